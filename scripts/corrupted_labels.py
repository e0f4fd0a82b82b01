"""Corrupted labels (paper §3.4, Table 2) on embedded digits: a fraction of the training labels is
replaced by random ones (fixed seed); ERM, ERM + dropout, mixup with large α, mixup + dropout;
best and last test error over seeds, and how much of the noise each one memorized.

    python scripts/corrupted_labels.py [--corrupt 0.5] [--seeds 0-2] [--epochs 50]

For CIFAR-10 with a GPU: the presets configs/classify/cifar10_corrupt{20,50,80}.yaml, e.g.
    python scripts/corrupted_labels.py --config configs/classify/cifar10_corrupt50.yaml --epochs 200 \\
        --dropout 0.8 --alphas 32 --threads 4
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

import torch
from classify_runs import final, markdown_table, mean_std, train_runs, write_results
from tabular import parse_seeds

from mixgan.rundir.logger import read_metrics


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="preset (default: the digits preset)")
    p.add_argument("--corrupt", type=float, default=0.5, help="fraction of training labels replaced")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--milestones", default=None, help="lr ÷10 epochs, e.g. [40] (default: 80%% of epochs)")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--alphas", nargs="+", type=float, default=[32.0],
                   help="mixup α (paper: 8 at 20%%, 32 at 50%%)")
    p.add_argument("--out", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = parse_seeds(args.seeds)
    milestones = args.milestones or f"[{round(0.8 * args.epochs)}]"
    base = ([f"--config={args.config}"] if args.config else ["--task=classify"]) + [
        f"--data.corrupt={args.corrupt}", f"--train.epochs={args.epochs}", f"--train.milestones={milestones}",
        "--metrics.image_every=-1"]
    drop = [f"--model.dropout={args.dropout}"]
    variants: dict[str, list[str]] = {"ERM": [], f"ERM + dropout {args.dropout:g}": drop}
    for a in args.alphas:
        variants[f"mixup α={a:g}"] = ["--mixup", f"--objective.alpha={a}"]
    a = args.alphas[-1]
    variants[f"mixup α={a:g} + dropout {args.dropout:g}"] = ["--mixup", f"--objective.alpha={a}", *drop]
    name = Path(args.config).stem if args.config else "digits"
    root = Path(args.out or f"runs/classify/corrupted_{name}_{round(100 * args.corrupt)}")
    dirs = {v: [root / f"{safe(v)}-s{s}" for s in seeds] for v in variants}
    train_runs(root, {safe(v): extra for v, extra in variants.items()}, seeds, base)
    rows, raw = [], {}
    for v, runs in dirs.items():
        best = [final(r)["test/error_best"] for r in runs]
        last = [final(r)["test/error"] for r in runs]
        mem = [final(r).get("train/memorized", float("nan")) for r in runs]
        # the paper's "last" is one number at the end; the median of the last 10 epochs is steadier
        last10 = [statistics.median(row["test/error"] for row in read_metrics(r)[-10:]) for r in runs]
        raw[v] = {"best": best, "last": last, "last10_median": last10, "memorized": mem}
        rows.append([v, mean_std(best, 1), mean_std(last, 1), mean_std(last10, 1), mean_std(mem, 1)])
    header = ["method", "best test error (%)", "last test error (%)", "median of last 10 (%)",
              "noisy labels fitted (%)"]
    table = markdown_table(header, rows) + (
        f"\n{name}, {round(100 * args.corrupt)}% of the training labels random (corrupt_seed 0), "
        f"{args.epochs} epochs, mean ± std over seeds {seeds}. \"Noisy labels fitted\": share of the "
        "corrupted training examples predicted as their random label at the end.\n")
    command = "python scripts/corrupted_labels.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    title = f"Corrupted labels ({round(100 * args.corrupt)}%) on {name}"
    write_results(root, title, command.strip(), table, raw)


def safe(label: str) -> str:
    """A run-dir name for a variant label."""
    return label.replace(" + ", "+").replace(" ", "-").replace("α=", "a").replace("ERM", "erm")


if __name__ == "__main__":
    main()
