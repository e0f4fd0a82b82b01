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


def off_picture(points: Any, lo: float, hi: float) -> int:
    """How many 2-D points fall outside the square [lo, hi]² (non-finite ones included)."""
    import numpy as np

    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    inside = np.isfinite(pts).all(1) & ((pts >= lo) & (pts <= hi)).all(1)
    return int(len(pts) - inside.sum())


def off_picture_note(off: int, total: int) -> str:
    """The note a sample picture carries when points fall outside it (a collapsed G may put its
    samples far off the data: say so, rather than show a sparse or empty square)."""
    return f"{off}/{total} off-plot"


def toy_samples_figure(real: Tensor, fake: Tensor, heat: tuple[Tensor, tuple[float, float]] | None = None,
                       title: str = "") -> Any:
    """Generated points (fixed noise) over real ones, with σ(D) (`toy_heatmap`) as the background.

    Host tensors in, a matplotlib Figure out (built without pyplot: no global figure to leak). A
    legend names real, generated and σ(D); generated points outside the square are counted in a note.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(3.4, 3.25), dpi=100)
    ax = fig.subplots()
    handles = []
    if heat is not None:
        prob, (lo, hi) = heat
        im = ax.imshow(prob.numpy(), origin="lower", extent=(lo, hi, lo, hi), cmap="RdBu_r",
                       vmin=0, vmax=1, alpha=0.55)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="σ(D)")
        handles.append(Patch(facecolor=im.cmap(0.85), alpha=0.55, label="σ(D) (bar)"))
    else:
        lo, hi = _box(real)
    off = off_picture(fake.numpy(), lo, hi)
    ax.scatter(real[:, 0].numpy(), real[:, 1].numpy(), s=3, c="k", label="real")
    fake = torch.nan_to_num(fake, nan=0.0, posinf=hi, neginf=lo)
    ax.scatter(fake[:, 0].numpy(), fake[:, 1].numpy(), s=3, c="tab:orange", alpha=0.5, label="generated")
    if off:
        ax.text(0.02, 0.02, off_picture_note(off, len(fake)), transform=ax.transAxes, fontsize=8,
                color="0.2", bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    points = ax.get_legend_handles_labels()[0]
    fig.legend(handles=[*points, *handles], loc="lower center", ncol=3, fontsize=8, frameon=False,
               markerscale=2.5, handlelength=1.2, columnspacing=1.0)
    # Fixed margins: tight_layout would cost a third of the picture's time (drawn every K steps).
    fig.subplots_adjust(left=0.02, right=0.8 if heat is not None else 0.98, bottom=0.08, top=0.93)
    return fig
