"""ERM vs mixup test error on embedded data (paper §3.5, Table 4): sklearn's iris, wine and
breast_cancer with the paper's UCI recipe (configs/classify/<set>.yaml), and digits with its
default preset, over several seeds (each seed is also a different train/test split).

    python scripts/tabular.py [--seeds 0-4] [--data digits iris wine breast_cancer] [--alphas 1.0]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch
from classify_runs import final, load_trained, markdown_table, mean_std, train_runs, write_results


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,1,2")
    p.add_argument("--data", nargs="+", default=["digits", "iris", "wine", "breast_cancer"])
    p.add_argument("--alphas", nargs="+", type=float, default=[1.0], help="mixup α values to compare")
    p.add_argument("--out", default="runs/classify/tabular")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these tiny nets)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = parse_seeds(args.seeds)
    variants = {"erm": []} | {f"mixup-a{a:g}": ["--mixup", f"--objective.alpha={a}"] for a in args.alphas}
    header = ["data", "train / test", *[f"{v} test error (%)" for v in variants]]
    rows, raw = [], {}
    for name in args.data:
        # digits: the default preset, with the split following the seed like the tabular presets
        base = (["--task=classify", "--data.split_seed=-1"] if name == "digits"
                else [f"--config=configs/classify/{name}.yaml"])
        runs = train_runs(Path(args.out) / name, variants, seeds, [*base, "--metrics.image_every=-1"])
        errors = {v: [final(r)["test/error"] for r in rs] for v, rs in runs.items()}
        raw[name] = errors
        _, _, data = load_trained(runs["erm"][0])
        split = f"{data.n_train} / {data.x_test.shape[0]}"
        rows.append([name, split, *[mean_std(errors[v]) for v in variants]])
    table = markdown_table(header, rows) + f"\nmean ± std over seeds {seeds} (each seed: its own split).\n"
    command = "python scripts/tabular.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    write_results(Path(args.out), "ERM vs mixup on embedded data", command.strip(), table, raw)


if __name__ == "__main__":
    main()
