"""Toy-GAN iteration time of this checkout against an older commit, side by side in one run.

    python scripts/bench_vs_commit.py --old 9e2b63d [--iterations 100] [--repeats 3]

The old commit is checked out into a temporary git worktree; each measurement is a fresh
subprocess, alternating old and new, so both see the same machine load. Rows: one run (S = 1) and
8 seeds in one process (the old BatchedGanTrainer where it exists, else a stack of 8 members).
Prints a Markdown table of the median seconds per iteration and the ratio new / old.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs inside the checkout under test (its own mixgan on sys.path); prints seconds per iteration.
SNIPPET = r"""
import sys, time, torch
from importlib.util import find_spec
members, iterations = int(sys.argv[1]), int(sys.argv[2])
try:
    from mixgan.config.core import load_config
except ImportError:
    from mixgan.config import load_config
cfgs = [load_config(None, [("seed", s), ("device", "cpu")], task="gan") for s in range(members)]
if members == 1:
    from mixgan.trainers.gan import GanTrainer
    trainer = GanTrainer(cfgs[0], torch.device("cpu"))
elif find_spec("mixgan.trainers.gan_batched"):
    from mixgan.trainers.gan_batched import BatchedGanTrainer
    trainer = BatchedGanTrainer(cfgs, torch.device("cpu"))
else:
    from mixgan.trainers.gan import GanTrainer
    trainer = GanTrainer(cfgs, torch.device("cpu"))
for _ in range(5):
    trainer.advance()
start = time.perf_counter()
for _ in range(iterations):
    trainer.advance()
print((time.perf_counter() - start) / iterations)
"""


def measure(root: Path, members: int, iterations: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", SNIPPET, str(members), str(iterations)], cwd=root,
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="git revision to compare against (e.g. 9e2b63d)")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.old], cwd=here, check=True)
        try:
            rows = []
            for members in (1, 8):
                times: dict[str, list[float]] = {"old": [], "new": []}
                for _ in range(args.repeats):  # alternate: both see the same load
                    times["old"].append(measure(old, members, args.iterations))
                    times["new"].append(measure(here, members, args.iterations))
                o, n = statistics.median(times["old"]), statistics.median(times["new"])
                rows.append(f"| S = {members} | {o * 1e3:.1f} | {n * 1e3:.1f} | {n / o:.2f} |")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=here, check=False)
    print(f"toy-GAN iteration (the default config's, batch 128, 5 D steps), CPU, {args.iterations} it., "
          f"median of {args.repeats}; old = {args.old}")
    print("| members | old (ms/it) | new (ms/it) | new / old |\n|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
