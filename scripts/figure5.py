"""Figure 5 of the mixup paper: ERM vs mixup GAN on the ring and the grid, samples over iterations.

    python scripts/figure5.py                                  # the paper's 10 ... 20,000 iterations
    python scripts/figure5.py --iterations 10,100,500,1000,1500 --metrics.every=100   # a quick look

Trains one run per (data set, objective, seed) with the Figure 5 presets (configs/gan/*_fig5.yaml,
train.iterations set to the last snapshot), keeps the fixed-noise samples of G at each snapshot, and
writes OUT/figure5.png (rows: objective × data set, columns: iterations; first seed) and the
`mixgan.compare` table of the same runs (OUT/table.md, OUT/table.csv). Extra `--key=value` arguments
are config overrides for every run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixgan.compare import compare
from mixgan.config.core import load_config
from mixgan.errors import ConfigError, MixganError
from mixgan.experiments.seeds import parse_seeds
from mixgan.report.plots import _plt
from mixgan.report.plots_compare import data_means, scatter_samples
from mixgan.train import make_trainer, parse_overrides, run_one

PRESETS = {"ring8": "configs/gan/ring8_fig5.yaml", "grid25": "configs/gan/grid25_fig5.yaml"}
OBJECTIVES = {"erm": "ERM GAN", "mixup": "mixup GAN"}
SNAPSHOTS = "snapshots.npz"


def parse_iterations(text: str) -> list[int]:
    try:
        its = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        its = []
    if not its or its[0] < 1:
        raise ConfigError(f"--iterations: got {text!r}; accepted: a comma list of iterations >= 1")
    return its


def train_with_snapshots(cfg: Any, iterations: list[int]) -> tuple[Path, dict[int, np.ndarray]]:
    """One real run (run dir, metrics, summary) that also keeps G(fixed z) at the snapshot iterations."""
    trainer = make_trainer(cfg)
    snaps: dict[int, np.ndarray] = {}
    advance = trainer.advance

    def advance_and_snapshot() -> None:
        advance()
        if trainer.step in iterations:  # G's forward pass draws no random numbers: training is unchanged
            with torch.no_grad():
                snaps[trainer.step] = trainer.G(trainer.fixed_z)[0].cpu().numpy()

    trainer.advance = advance_and_snapshot
    summary = run_one(cfg, trainer)
    run_dir = Path(summary["run_dir"])
    np.savez(run_dir / SNAPSHOTS, **{f"it{k}": v for k, v in snaps.items()})
    return run_dir, snaps


def load_snapshots(run_dir: Path) -> dict[int, np.ndarray]:
    """The snapshots a run of this script saved, by iteration."""
    if not (run_dir / SNAPSHOTS).is_file():
        raise ConfigError(f"--redraw: no {SNAPSHOTS} in {run_dir}")
    with np.load(run_dir / SNAPSHOTS) as saved:
        return {int(k[2:]): saved[k] for k in saved.files}


def draw(panels: dict[tuple[str, str], tuple[dict[int, np.ndarray], dict[str, Any]]], iterations: list[int],
         path: Path) -> None:
    """Rows: ERM ring, ERM grid, mixup ring, mixup grid; columns: iterations (as in the paper)."""
    plt = _plt()
    keys = list(panels)
    size = (1.6 * len(iterations) + 0.9, 1.6 * len(keys))
    fig, axes = plt.subplots(len(keys), len(iterations), figsize=size, dpi=90, squeeze=False)
    for i, (obj, data) in enumerate(keys):
        snaps, config = panels[(obj, data)]
        for j, it in enumerate(iterations):
            ax = axes[i, j]
            note = "" if it in snaps else "no samples\n(diverged)"
            scatter_samples(ax, snaps.get(it), data_means(config), note, fontsize=6)
            if i == 0:
                ax.set_title(f"{it:,} it.", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{OBJECTIVES[obj]}\n{data}", fontsize=8)
    fig.tight_layout(pad=0.3)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", default="10,100,1000,10000,20000", help="snapshot iterations")
    p.add_argument("--seeds", default="0", help="seeds per setting (the figure shows the first)")
    p.add_argument("--data", default="ring8,grid25")
    p.add_argument("--out", default="runs/figure5", help="folder for the runs, figure5.png and the table")
    p.add_argument("--png", help="also copy the figure here (e.g. docs/figure5.png)")
    p.add_argument("--redraw", action="store_true", help="draw again from the runs in --out (no training)")
    args, rest = p.parse_known_args(argv)
    try:
        iterations, seeds = parse_iterations(args.iterations), parse_seeds(args.seeds)
        overrides = parse_overrides(rest)
        datas = [d.strip() for d in args.data.split(",")]
        for d in datas:
            if d not in PRESETS:
                raise ConfigError(f"--data: got {d!r}; accepted: {', '.join(PRESETS)}")
        out = Path(args.out)
        root = Path(__file__).resolve().parent.parent
        plan = []
        for obj in OBJECTIVES:
            for data in datas:
                for seed in seeds:
                    name = f"{data}-{obj}"
                    cfg = load_config(root / PRESETS[data], [
                        *overrides, ("objective.name", obj), ("seed", seed),
                        ("train.iterations", iterations[-1]), ("run.dir", str(out / "runs" / name)),
                        ("run.name", f"{name}-s{seed}")])
                    plan.append((obj, data, seed, cfg))
        if (out / "runs").exists() != args.redraw:
            raise ConfigError(f"{out / 'runs'} already exists; choose another --out, or --redraw" if not
                              args.redraw else f"--redraw: no runs in {out}")
        panels, run_dirs = {}, []
        for n, (obj, data, seed, cfg) in enumerate(plan):
            if args.redraw:
                run_dir = Path(cfg.run.dir) / cfg.run.name
                snaps = load_snapshots(run_dir)
            else:
                print(f"\n== {n + 1}/{len(plan)}: {obj} on {data}, seed {seed}", flush=True)
                run_dir, snaps = train_with_snapshots(cfg, iterations)
            run_dirs.append(run_dir)
            if (obj, data) not in panels:
                panels[(obj, data)] = (snaps, {"task": "gan", **{f"data.{k}": v for k, v in
                                                                vars(cfg.data).items()}})
        draw(panels, iterations, out / "figure5.png")
        if args.png:
            Path(args.png).parent.mkdir(parents=True, exist_ok=True)
            Path(args.png).write_bytes((out / "figure5.png").read_bytes())
        _, _, text = compare(run_dirs, out, plots=False)
    except MixganError as err:
        print(f"figure5: error: {err}", file=sys.stderr)
        return 2
    print(f"\n{text}\n\nwrote {out / 'figure5.png'}, {out / 'table.md'}, {out / 'table.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
