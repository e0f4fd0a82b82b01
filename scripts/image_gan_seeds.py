"""ERM vs mixup DCGAN on Stacked digits over seeds: the image-GAN table of docs/image-gans.md.

    OMP_NUM_THREADS=1 python scripts/image_gan_seeds.py [--seeds 0,1,2] [--out runs/image_gan_seeds]
                                                        [KEY=VALUE overrides, e.g. --train.iterations=1000]

Trains `configs/gan/dcgan_stacked_digits.yaml` with each objective and seed (one run at a time, in this
process; finished runs are reused), then writes <out>/table.md: mean ± std over seeds of the final
modes (of 1,000), reverse KL, and FID / KID / precision / recall computed with our digit classifier
as torch-fidelity feature extractor (not comparable to Inception FID), for G and for its EMA.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

PRESET = "configs/gan/dcgan_stacked_digits.yaml"
COLUMNS = [("quality/modes", "modes /1000", "{:.0f}"),
           ("quality/reverse_kl", "reverse KL", "{:.3f}"),
           ("fidelity/fid_digits", "FID (digits)", "{:.1f}"),
           ("fidelity/kid_digits", "KID (digits)", "{:.2f}"),
           ("fidelity/precision_digits", "precision", "{:.3f}"),
           ("fidelity/recall_digits", "recall", "{:.3f}")]


def run(objective: str, seed: int, out: Path, overrides: list[str]) -> dict:
    """The final metrics of one run (trained now unless a completed run is already there)."""
    from mixgan.train import main

    run_dir = out / f"{objective}-s{seed}"
    summary = run_dir / "summary.json"
    if not (summary.exists() and json.loads(summary.read_text())["status"] == "completed"):
        if run_dir.exists():  # an unfinished run: continue it from its checkpoint
            code = main(["--resume", str(run_dir), "--run.progress=false"])
        else:
            args = [f"--objective.name={objective}", f"--seed={seed}", f"--run.dir={out}",
                    f"--run.name={run_dir.name}", "--run.progress=false"]
            code = main(["--config", PRESET, *args, *overrides])
        if code != 0:
            sys.exit(f"image_gan_seeds: {run_dir} ended with exit code {code}")
    return json.loads(summary.read_text())["final"]


def cell(values: list[float], fmt: str) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(sd)}"


def table(finals: dict[str, list[dict]]) -> str:
    lines = ["| objective | weights | " + " | ".join(name for _, name, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for objective, rows in finals.items():
        for label, prefix in (("G", ""), ("EMA of G", "_ema")):
            cells = []
            for key, _, fmt in COLUMNS:
                section, metric = key.split("/")
                cells.append(cell([r[f"{section}{prefix}/{metric}"] for r in rows
                                   if f"{section}{prefix}/{metric}" in r], fmt))
            lines.append(f"| {objective} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="runs/image_gan_seeds")
    args, overrides = p.parse_known_args()
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    finals = {obj: [run(obj, s, out, overrides) for s in seeds] for obj in ("erm", "mixup")}
    text = table(finals)
    (out / "table.md").write_text(text)
    print(f"\n{len(seeds)} seeds ({args.seeds}), {PRESET} {' '.join(overrides)}\n\n{text}")


if __name__ == "__main__":
    main()
