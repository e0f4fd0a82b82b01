"""`python -m mixgan.benchmarks.compare_scale --runs 1000 10000`: time and peak memory of `mixgan.compare`
over N synthetic run dirs (issue 35, item 4: 10,000 runs within 2 GB). Not a timed test: it prints.

`make_runs` writes run dirs as the trainer does (config.yaml through the config schema, metrics.jsonl
rows with every toy-GAN tag every 200 iterations, summary.json with its health block) in a few groups,
with pseudo-random numbers; each size is compared in a fresh process, whose peak resident memory
(`ru_maxrss`) is reported beside that of a process that only imports what compare imports.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Per measurement, as the toy-GAN trainer logs them (docs/run-dir.md); the last row adds final_large/*.
TAGS = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G", "stability/D_real",
        "stability/D_fake", "stability/grad_input_real", "stability/grad_input_fake",
        "stability/grad_input_mixed", "quality/modes", "quality/high_quality", "quality/reverse_kl",
        "quality/density", "quality/coverage", "quality/sliced_w1", "quality/loglik")
QUALITY = [t for t in TAGS if t.startswith("quality/")]
# Group name -> config overrides (dotted): two objectives on two data sets.
GROUPS = {"grid25-erm": {"data.name": "grid25", "objective.name": "erm"},
          "grid25-mixup": {"data.name": "grid25", "objective.name": "mixup"},
          "ring8-erm": {"data.name": "ring8", "objective.name": "erm"},
          "ring8-mixup": {"data.name": "ring8", "objective.name": "mixup"}}
HEALTH = {"verdict": "healthy", "step": 0, "why": "density and coverage above noise's level",
          "references": {name: {t: 0.5 for t in QUALITY} for name in ("data", "one mode", "noise")},
          "levels": {"noise": {"quality/density": 0.015, "quality/coverage": 0.071},
                     "collapsed": {"quality/coverage": 0.056}}}


def _config_text(root: Path, overrides: dict[str, object], iterations: int, every: int) -> str:
    from mixgan.config.core import load_config, save_config

    cfg = load_config(None, [*overrides.items(), ("seed", 0), ("train.iterations", iterations),
                             ("metrics.every", every), ("run.dir", str(root))])
    with tempfile.TemporaryDirectory() as tmp:
        save_config(cfg, Path(tmp) / "config.yaml")
        return (Path(tmp) / "config.yaml").read_text()


def make_runs(root: str | Path, n: int, groups: int = 4, iterations: int = 5000, every: int = 200,
              seed: int = 0) -> list[Path]:
    """n run dirs under root/<group>/<group>-s<seed>, spread over the first `groups` of GROUPS (seeds
    0, 1, ... in each); about 1 in 50 diverged half-way. Returns the run dirs."""
    root = Path(root)
    names = list(GROUPS)[:groups]
    texts = {g: _config_text(root / g, GROUPS[g], iterations, every) for g in names}
    rng = random.Random(seed)
    steps = list(range(every, iterations + 1, every))
    made = []
    for i in range(n):
        group, s = names[i % len(names)], i // len(names)
        run = root / group / f"{group}-s{s}"
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(texts[group].replace("seed: 0\n", f"seed: {s}\n", 1))
        diverged = rng.random() < 0.02
        end = steps[: len(steps) // 2] if diverged else steps
        rows = []
        for step in end:
            row = {"step": step, **{t: rng.random() for t in TAGS}}
            row["quality/modes"] = float(rng.randint(0, 25))
            rows.append(row)
        if diverged:
            rows[-1]["loss/D"] = "nan"  # as RunLogger writes a non-finite value
        else:
            rows[-1].update({t.replace("quality/", "final_large/"): rng.random() for t in QUALITY})
        with (run / "metrics.jsonl").open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        final = {k: float(v) for k, v in rows[-1].items() if k != "step"}  # NaN as JSON's NaN
        summary = {"status": "diverged" if diverged else "completed", "step": end[-1], "total": iterations,
                   "diverged_at": end[-1] if diverged else None, "final": final, "wall_time_s": 60.0,
                   "run_dir": str(run), "versions": {"python": "3", "mixgan": "0.1.0", "git": "synthetic"},
                   "health": {**HEALTH, "step": end[-1]}}
        (run / "summary.json").write_text(json.dumps(summary, indent=2))
        made.append(run)
    return made


# Run in a fresh interpreter per size: compare (or only its imports, "0") and print time, peak RSS.
_CHILD = """
import resource, sys, time
from mixgan.compare import main
import matplotlib.pyplot, torch.utils.tensorboard
root, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
code = main([root, "--out", out, "--no-progress"]) if n else 0
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def measure(root: Path, out: Path, n: int) -> tuple[float, float]:
    """Seconds and peak resident MiB of `python -m mixgan.compare root --out out` in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(out), str(n)], capture_output=True,
                          text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"compare failed: {proc.stderr.strip()[-800:]}")
    seconds, kib, code = proc.stdout.split()[-3:]
    if code != "0":
        raise RuntimeError(f"compare exited {code}: {proc.stderr.strip()[-800:]}")
    return float(seconds), int(kib) / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixgan.benchmarks.compare_scale",
                                description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, nargs="+", default=[1000, 10000], help="sizes (numbers of run dirs)")
    p.add_argument("--groups", type=int, default=4, choices=range(1, len(GROUPS) + 1))
    p.add_argument("--iterations", type=int, default=5000, help="each run's length (rows every 200)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mixgan-compare-scale-") as tmp:
        base_s, base_mib = measure(Path(tmp), Path(tmp) / "out0", 0)
        print(f"imports only: peak RSS {base_mib:.0f} MiB")
        print("| runs | rows per run | write s | compare s | peak RSS MiB |\n|---|---|---|---|---|")
        for n in args.runs:
            root = Path(tmp) / f"runs{n}"
            t = time.perf_counter()
            make_runs(root, n, args.groups, args.iterations)
            made = time.perf_counter() - t
            seconds, mib = measure(root, Path(tmp) / f"out{n}", n)
            rows = args.iterations // 200
            print(f"| {n:,} | {rows} | {made:.0f} | {seconds:.1f} | {mib:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
