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


def toy_samples_figure(real: Tensor, fake: Tensor, D: nn.Module | None, device: torch.device,
                       title: str = "", resolution: int = 120) -> Any:
    """Generated points (fixed noise) over real ones, with σ(D) as the background heatmap."""
    plt = _plt()
    lo = float(torch.minimum(real.min(), torch.tensor(-1.0))) - 0.25
    hi = float(torch.maximum(real.max(), torch.tensor(1.0))) + 0.25
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=100)
    if D is not None:
        ticks = torch.linspace(lo, hi, resolution)
        gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(device)
        with torch.no_grad():
            prob = torch.sigmoid(D(grid)).reshape(resolution, resolution).cpu()
        im = ax.imshow(prob.numpy(), origin="lower", extent=(lo, hi, lo, hi), cmap="RdBu_r",
                       vmin=0, vmax=1, alpha=0.55)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="σ(D)")
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
    fig.tight_layout()
    return fig
