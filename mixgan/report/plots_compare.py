"""Pictures for `mixgan.compare`: metric curves over seeds (median, 25–75% band) and a sample grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mixgan.config.untrusted import read_npy
from mixgan.report.plots import _plt, off_picture, off_picture_note
from mixgan.rundir.paths import FINAL_SAMPLES  # the GAN trainer's last fixed-noise samples


def band(runs: list[Any], tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, median, 25th and 75th percentile of `tag` over the runs (finite values at each step)."""
    by_step: dict[int, list[float]] = {}
    for run in runs:
        for step, value in run.series(tag):
            if math.isfinite(value):
                by_step.setdefault(step, []).append(value)
    steps = np.array(sorted(by_step), dtype=float)
    q = np.array([np.percentile(by_step[int(s)], [50, 25, 75]) for s in steps]).reshape(-1, 3)
    return steps, q[:, 0], q[:, 1], q[:, 2]


# y-axis labels of the metrics compare draws (others are labelled with their tag's last part)
YLABELS = {"quality/modes": "modes covered", "quality/high_quality": "high-quality fraction",
           "quality/reverse_kl": "reverse KL (nats)", "stability/grad_norm_D": "‖∇θ loss_D‖",
           "stability/grad_norm_G": "‖∇θ loss_G‖", "stability/grad_input_real": "‖∂D/∂x‖ at real x",
           "loss/D": "loss_D", "loss/G": "loss_G"}
BAND_NOTE = "line: median over a group's seeds · band: 25–75 % of its seeds (n = seeds)"


REFERENCE_STYLE = {"data": ("0.2", "--"), "noise": ("0.45", ":"), "one mode": ("0.6", "-."),
                   "blur": ("0.75", (0, (1, 3)))}


def curves_figure(groups: list[Any], tags: list[str],
                  references: dict[str, dict[str, float]] | None = None) -> Any:
    """One panel per metric, one line per group: the median over seeds with a 25–75% band; grey
    horizontal lines: the reference generators' scores (report/references.curve_lines), where given."""
    plt = _plt()
    tags = [t for t in tags if any(r.series(t) for g in groups for r in g.runs)] or tags[:1]
    cols = min(3, len(tags))
    rows = math.ceil(len(tags) / cols)
    legend_rows = math.ceil((len(groups) + len(references or {})) / 2)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows + 0.3 + 0.25 * legend_rows),
                             dpi=100, squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        for i, g in enumerate(groups):
            steps, med, lo, hi = band(g.runs, tag)
            if len(steps):
                color = f"C{i % 10}"
                ax.plot(steps, med, color=color, lw=1.5, label=f"{g.label} (n={len(g.runs)})")
                ax.fill_between(steps, lo, hi, color=color, alpha=0.2, lw=0)
        for name, values in (references or {}).items():
            if tag in values:
                color, style = REFERENCE_STYLE.get(name.split(" ")[0], ("0.5", "--"))
                ax.axhline(values[tag], color=color, ls=style, lw=1, label=f"{name} (reference)")
        ax.set_title(tag, fontsize=10)
        ax.set_xlabel("iteration", fontsize=9)
        ax.set_ylabel(YLABELS.get(tag, tag.split("/")[-1]), fontsize=9)
        ax.tick_params(labelsize=9)
    for ax in list(axes.flat)[len(tags):]:
        ax.axis("off")
    legend: dict[str, Any] = {}  # groups, then the references drawn on any panel
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    handles, labels = list(legend.values()), list(legend)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(2, len(labels)), fontsize=9, frameon=False)
    fig.suptitle(BAND_NOTE, fontsize=10)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, (0.1 + 0.25 * legend_rows) / height, 1, 1 - 0.2 / height))
    return fig


def plot_curves(groups: list[Any], tags: list[str], path: str | Path,
                references: dict[str, dict[str, float]] | None = None) -> None:
    """curves.png: `curves_figure` saved."""
    plt = _plt()
    fig = curves_figure(groups, tags, references)
    fig.savefig(path)
    plt.close(fig)


def data_means(config: dict[str, Any]) -> np.ndarray | None:
    """The mixture means of a toy-GAN run's data set (dotted config), or None for other tasks."""
    from mixgan.data import GAN_DATA
    from mixgan.report.runs import is_toy_gan

    name = config.get("data.name")
    if not is_toy_gan(config):
        return None
    kw = {k: config[f"data.{k}"] for k in ("std", "radius", "spacing") if f"data.{k}" in config}
    return GAN_DATA[name](**kw).means.numpy()


def scatter_samples(ax: Any, samples: np.ndarray | None, means: np.ndarray | None, note: str = "",
                    fontsize: float = 9) -> None:
    """Generated points (orange) over the mixture means (black), on a fixed square; `note` if none."""
    lim = 1.0 if means is None else float(np.abs(means).max())
    lim += 0.35 * max(lim, 1e-6)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], s=6, c="k", marker="x", lw=0.6, zorder=3)
    if samples is not None:
        pts = samples[np.isfinite(samples).all(1)]
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, c="tab:orange", alpha=0.6, lw=0)
        outside = off_picture(samples, -lim, lim)
        if outside:
            ax.text(0.03, 0.03, off_picture_note(outside, len(samples)), transform=ax.transAxes,
                    fontsize=fontsize, color="0.3")
    if note:
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=fontsize,
                color="0.3")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def samples_figure(groups: list[Any], max_seeds: int = 10) -> Any:
    """Groups × seeds: each run's final fixed-noise samples, titled with its final mode count; panels of
    2 in at 100 dpi and text of at least 9 pt, legible at 100 %."""
    plt = _plt()
    n = min(max_seeds, max(len(g.runs) for g in groups))
    fig, axes = plt.subplots(len(groups), n, figsize=(2.0 * n + 1.1, 2.45 * len(groups) + 0.4), dpi=100,
                             squeeze=False)
    for i, g in enumerate(groups):
        for j in range(n):
            ax = axes[i, j]
            if j >= len(g.runs):
                ax.axis("off")
                continue
            run = g.runs[j]
            file = run.path / FINAL_SAMPLES
            # a foreign file (pickled objects, a FIFO, a 1-D array) is one line (config/untrusted.py)
            samples = read_npy(file, ndim=2, columns=2) if file.exists() or file.is_symlink() else None
            note = "" if samples is not None else (run.status if run.status != "completed" else "no samples")
            scatter_samples(ax, samples, data_means(run.config), note)
            modes = run.final.get("quality/modes")
            title = f"s{run.seed}" + (f" · {modes:.0f} modes" if modes is not None and math.isfinite(modes)
                                      else "")
            ax.set_title(title, fontsize=10, pad=3)
            if j == 0:
                ax.set_ylabel(g.label.replace(", ", "\n"), fontsize=9)
    fig.suptitle("final samples of a fixed noise batch (orange), mixture means (×)", fontsize=10)
    fig.tight_layout(pad=0.4, h_pad=1.5, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    return fig


def plot_samples(groups: list[Any], path: str | Path, max_seeds: int = 10) -> None:
    """samples.png: `samples_figure` saved."""
    plt = _plt()
    fig = samples_figure(groups, max_seeds)
    fig.savefig(path)
    plt.close(fig)
