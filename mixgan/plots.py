"""Pictures for TensorBoard and reports (matplotlib, Agg backend, imported only when drawing)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _box(real: Tensor) -> tuple[float, float]:
    """The plotted square: the data's range and at least [−1, 1], with a margin."""
    return min(float(real.min()), -1.0) - 0.25, max(float(real.max()), 1.0) + 0.25


def toy_heatmap(D: nn.Module, real: Tensor, device: torch.device,
                resolution: int = 120) -> tuple[Tensor, tuple[float, float]]:
    """σ(D) on a resolution² grid over the data's box (on the host), and the box (lo, hi)."""
    lo, hi = _box(real)
    ticks = torch.linspace(lo, hi, resolution)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(device)
    with torch.no_grad():
        prob = torch.sigmoid(D(grid)).reshape(resolution, resolution).cpu()
    return prob, (lo, hi)


def toy_samples_figure(real: Tensor, fake: Tensor, heat: tuple[Tensor, tuple[float, float]] | None = None,
                       title: str = "") -> Any:
    """Generated points (fixed noise) over real ones, with σ(D) (`toy_heatmap`) as the background.

    Host tensors in, a matplotlib Figure out (built without pyplot: no global figure to leak).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2, 3.2), dpi=100)
    ax = fig.subplots()
    if heat is not None:
        prob, (lo, hi) = heat
        im = ax.imshow(prob.numpy(), origin="lower", extent=(lo, hi, lo, hi), cmap="RdBu_r",
                       vmin=0, vmax=1, alpha=0.55)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="σ(D)")
    else:
        lo, hi = _box(real)
    ax.scatter(real[:, 0].numpy(), real[:, 1].numpy(), s=3, c="k", label="real")
    fake = torch.nan_to_num(fake, nan=0.0, posinf=hi, neginf=lo)
    ax.scatter(fake[:, 0].numpy(), fake[:, 1].numpy(), s=3, c="tab:orange", alpha=0.5, label="fake")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    # Fixed margins: tight_layout would cost a third of the picture's time (drawn every K steps).
    fig.subplots_adjust(left=0.02, right=0.8 if heat is not None else 0.98, bottom=0.02, top=0.92)
    return fig
