"""Adversarial robustness (paper §3.3, Table 3) on embedded digits: white-box FGSM and iterative
FGSM against ERM and mixup classifiers; top-1 and top-5 test error over seeds.

    python scripts/adversarial.py [--seeds 0-2] [--eps 0.05 0.1 0.2] [--steps 10]

ε is in pixel units of [0, 1] images (the paper's ImageNet ε = 4 on 0..255 is 4/255 ≈ 0.016).
Any finished classifier run can be attacked: --config PRESET trains that preset instead.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch
from classify_runs import load_trained, markdown_table, mean_std, train_runs, write_results
from tabular import parse_seeds

from mixgan.metrics.adversarial import attack_errors, make_attack


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="preset (default: the digits preset)")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--eps", nargs="+", type=float, default=[0.05, 0.1, 0.2])
    p.add_argument("--steps", type=int, default=10, help="I-FGSM iterations (step ε/steps)")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--out", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = parse_seeds(args.seeds)
    name = Path(args.config).stem if args.config else "digits"
    root = Path(args.out or f"runs/classify/adversarial_{name}")
    base = [f"--config={args.config}"] if args.config else ["--task=classify"]
    base.append("--metrics.image_every=-1")
    variants = {"erm": [], f"mixup-a{args.alpha:g}": ["--mixup", f"--objective.alpha={args.alpha}"]}
    runs = train_runs(root, variants, seeds, base)
    attacks = [("clean", None, 0.0)] + [(a, a, e) for a in ("fgsm", "ifgsm") for e in args.eps]
    raw: dict[str, dict[str, list[list[float]]]] = {}
    for variant, dirs in runs.items():
        for run_dir in dirs:
            model, _, data = load_trained(run_dir)
            clamp = (0.0, 1.0) if data.is_image else None  # pixels stay valid; features are unbounded
            for label, attack, eps in attacks:
                fn = make_attack(attack, eps, args.steps, clamp) if attack else None
                errs = attack_errors(model, data.x_test, data.y_test, fn)
                raw.setdefault(variant, {}).setdefault(f"{label} {eps:g}", []).append(list(errs))
    top5 = data.num_classes > 5
    header = ["attack", "ε", *[f"{v} top-1 (%)" for v in variants]] + (
        [f"{v} top-5 (%)" for v in variants] if top5 else [])
    rows = []
    for label, _, eps in attacks:
        key = f"{label} {eps:g}"
        cells = [mean_std([e[0] for e in raw[v][key]], 1) for v in variants]
        if top5:
            cells += [mean_std([e[1] for e in raw[v][key]], 1) for v in variants]
        rows.append([{"clean": "none", "fgsm": "FGSM", "ifgsm": f"I-FGSM ({args.steps} steps)"}[label],
                     f"{eps:g}" if eps else "", *cells])
    table = markdown_table(header, rows) + (f"\n{name}, white-box attacks on the {data.x_test.shape[0]} test "
                                            f"images, mean ± std over seeds {seeds}.\n")
    command = "python scripts/adversarial.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    write_results(root, f"Adversarial robustness on {name}", command.strip(), table, raw)


if __name__ == "__main__":
    main()
