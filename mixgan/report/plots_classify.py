"""Classifier pictures (paper Figures 1b and 2, and the PCA of mixed examples), matplotlib Agg.

Each function takes already trained models or measured numbers and returns a figure, so the
trainer logs it to TensorBoard and the scripts save it as PNG too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mixgan.report.plots import _plt


@torch.no_grad()
def probability_grid(model: nn.Module, lo: tuple[float, float], hi: tuple[float, float],
                     resolution: int = 150) -> Tensor:
    """P(y=1|x) of a 2-D two-class model on a resolution² grid over [lo, hi] (rows: y, cols: x)."""
    device = next(model.parameters()).device
    xs = torch.linspace(lo[0], hi[0], resolution)
    ys = torch.linspace(lo[1], hi[1], resolution)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(device)
    return torch.softmax(model(grid).float(), 1)[:, 1].reshape(resolution, resolution).cpu()


def decision_figure(models: dict[str, nn.Module], x: Tensor, y: Tensor, resolution: int = 150) -> Any:
    """Paper Figure 1b: P(y=1|x) as a heatmap for each model (e.g. ERM and mixup), data on top."""
    plt = _plt()
    x, y = x.cpu(), y.cpu()
    margin = 0.5
    lo = (float(x[:, 0].min()) - margin, float(x[:, 1].min()) - margin)
    hi = (float(x[:, 0].max()) + margin, float(x[:, 1].max()) + margin)
    fig, axes = plt.subplots(1, len(models), figsize=(3.4 * len(models), 3.2), dpi=100, squeeze=False)
    for ax, (name, model) in zip(axes[0], models.items()):
        was_training = model.training
        model.eval()
        prob = probability_grid(model, lo, hi, resolution)
        model.train(was_training)
        im = ax.imshow(prob.numpy(), origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap="RdBu_r",
                       vmin=0, vmax=1, aspect="auto")
        ax.contour(prob.numpy(), levels=[0.5], colors="k", linewidths=0.8,
                   extent=(lo[0], hi[0], lo[1], hi[1]))
        for c, color in ((0, "tab:blue"), (1, "tab:red")):
            pts = x[y == c]
            ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=4, c=color, edgecolors="white",
                       linewidths=0.2)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, pad=0.02, label="P(y=1|x)")
    return fig


def between_figure(lams: Tensor, curves: dict[str, tuple[Tensor, Tensor]]) -> Any:
    """Paper Figure 2 as curves over λ: prediction misses (%) and ‖∇ₓ loss‖ between training examples."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8), dpi=100)
    for name, (miss, grad) in curves.items():
        a.plot(lams.tolist(), (100 * miss).tolist(), marker="o", ms=3, label=name)
        b.plot(lams.tolist(), grad.tolist(), marker="o", ms=3, label=name)
    a.set_xlabel("λ  (x = λ·x_i + (1−λ)·x_j)")
    a.set_ylabel("miss: prediction ∉ {y_i, y_j} (%)")
    b.set_xlabel("λ")
    b.set_ylabel("‖∂loss/∂x‖")
    a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pca_figure(paths: dict[str, Tensor], lams: Tensor, background: dict[str, Tensor] | None = None) -> Any:
    """Mixed examples' features projected on 2 principal components, coloured by λ from 0 to 1.

    paths[name] has shape (pairs, len(lams), 2): one line per pair of training examples;
    background[name] (N, 2), if given, is drawn in grey underneath (e.g. the training features).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(paths), figsize=(3.4 * len(paths), 3.2), dpi=100, squeeze=False)
    for ax, (name, p) in zip(axes[0], paths.items()):
        if background is not None and name in background:
            bg = background[name]
            ax.scatter(bg[:, 0].numpy(), bg[:, 1].numpy(), s=2, c="0.85", zorder=0)
        for line in p:
            ax.plot(line[:, 0].numpy(), line[:, 1].numpy(), c="0.4", lw=0.6, zorder=1)
        sc = ax.scatter(p[..., 0].flatten().numpy(), p[..., 1].flatten().numpy(), s=6, zorder=2,
                        c=lams.repeat(p.shape[0]).numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes[0].tolist(), fraction=0.03, pad=0.02, label="λ")
    return fig
