"""Reference generators for the toy tables (docs/design.md, habit 11): the data itself, its modes
blurred, all mass on one mode and uniform noise over the data's box, scored by the same code
(metrics.toy.ToyReference.score) at the same sample sizes as a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from mixgan.metrics.toy import ToyReference

BLUR_FACTORS = (2.0, 5.0, 10.0)  # blurred modes: std × these (the paper grid: σ 0.02, 0.05, 0.1)
NOISE_DRAWS = 20  # uniform-noise draws at the protocol size: what a verdict against noise tests against
DRAWS = 3  # draws of every other reference at the protocol size (their spread is shown, not tested)
LARGE = 5000  # from this sample size on, fewer draws (the spread is small there, and the cost is not)
LARGE_DRAWS = {"noise": 3, "other": 1}
BOX_PAD = 0.125  # the box: the means' bounding box widened by 12.5 % of its extent on each side
REF_SEED = 4242  # the references' own draws (never the fixed real sample's REAL_SEED)


def data_box(means: Tensor) -> tuple[Tensor, Tensor]:
    """The data's box: [−1.25, 1.25]² for the paper's grid (extent 2) and ring (radius 1)."""
    low, high = means.min(0).values, means.max(0).values
    pad = BOX_PAD * (high - low).max()
    return low - pad, high + pad


def generators(data: Any) -> dict[str, Callable[[int, torch.Generator], Tensor]]:
    """name → draw(n, generator) of (n, 2) points, in the order the tables list them."""
    means, std = data.means, data.std

    def around(centers: Tensor, sigma: float) -> Callable[[int, torch.Generator], Tensor]:
        def draw(n: int, g: torch.Generator) -> Tensor:
            idx = torch.randint(len(centers), (n,), generator=g, device=centers.device)
            return centers[idx] + sigma * torch.randn(n, 2, generator=g, device=centers.device)
        return draw

    def noise(n: int, g: torch.Generator) -> Tensor:
        low, high = data_box(means)
        return low + (high - low) * torch.rand(n, 2, generator=g, device=means.device)

    out = {"the data (another draw)": around(means, std)}
    out.update({f"modes blurred, σ = {f:g}·std": around(means, f * std) for f in BLUR_FACTORS})
    out["all mass on one mode"] = around(means[:1], std)
    out["uniform noise over the data's box"] = noise
    return out


NOISE = "uniform noise over the data's box"
# Short names for plot labels; the forest plot draws these four (the other blurs sit between).
SHORT = {"the data (another draw)": "data", f"modes blurred, σ = {BLUR_FACTORS[1]:g}·std":
         f"blur {BLUR_FACTORS[1]:g}σ", "all mass on one mode": "one mode", NOISE: "noise"}


def reference_scores(ref: ToyReference, sizes: dict[str, int],
                     only: dict[str, int] | None = None) -> dict[str, dict[str, list[float]]]:
    """name → metric → values over its draws, for each prefix → sample size in `sizes`
    (e.g. {"quality/": 2500, "final_large/": 20000}): NOISE_DRAWS draws of noise, DRAWS of the others
    (LARGE_DRAWS from LARGE samples on). `only` (name → draws) scores those references alone, with
    that many draws: the first draws of compare's, since every reference keeps its own seed."""
    out: dict[str, dict[str, list[float]]] = {}
    for i, (name, draw) in enumerate(generators(ref.data).items()):
        if only is not None and name not in only:
            continue
        vals: dict[str, list[float]] = {}
        for prefix, n in sizes.items():
            draws = (NOISE_DRAWS if name == NOISE else DRAWS) if n < LARGE else \
                LARGE_DRAWS["noise" if name == NOISE else "other"]
            draws = draws if only is None else only[name]
            g = torch.Generator(ref.real.device).manual_seed(REF_SEED + 1000 * i + n)
            batch = torch.stack([draw(n, g) for _ in range(draws)])  # (draws, n, 2): one call
            for k, v in ref.score(batch, prefix).items():
                vals[k] = v.tolist()
        out[name] = vals
    return out
