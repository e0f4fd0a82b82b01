"""`python -m mixgan.benchmarks.soak --iterations 20000`: a leak check (issue 35, item 5). Not a test: it
prints.

Trains the main job (`python -m mixgan.train --mixup`, configs/gan/default.yaml: checkpoints, TensorBoard
images and metrics at their default cadences) and a stack of 10 seeds, each in a fresh process, and
samples the process's resident memory every `--every` iterations (1,000 by default). After the warm-up
(the first `--warmup` of the run: imports, the first checkpoint, the first picture, allocator pools),
memory should stay flat: the verdict is `flat` when no later sample lies more than `--tolerance` MiB
above the first sample after the warm-up, else `grows`, with the least-squares slope in MiB per 10,000
iterations. Also the run dir's size by kind of file at the end (docs/run-dir.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

JOBS = {"main job": ["--mixup"], "10-seed stack": ["--mixup", "--seeds", "0-9"]}


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc), else its peak so far (ru_maxrss)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def child(args: list[str], every: int) -> None:
    """In this process: train `python -m mixgan.train args`, printing `{"step", "rss_mib"}` every
    `every` iterations (of the first member of a stack: all advance together) as JSON lines."""
    from mixgan.config.cli import cli_overrides, train_parser
    from mixgan.config.core import load_config
    from mixgan.experiments.run import run_one
    from mixgan.experiments.seeds import seeds_main
    from mixgan.trainers.gan import GanTrainer
    from mixgan.trainers.loop import exit_code

    advance = GanTrainer.advance

    def sampled(self: Any) -> None:
        advance(self)
        if self.step % every == 0 or self.step == 1:
            print(json.dumps({"step": self.step, "rss_mib": round(rss_mib(), 1)}), flush=True)

    GanTrainer.advance = sampled  # type: ignore[method-assign]
    # What `python -m mixgan.train ARGS` runs, through the stage below the command (benchmarks do not
    # import the commands: docs/design.md, Layout).
    parsed, rest = train_parser().parse_known_args(args)
    cfg = load_config(parsed.config, cli_overrides(parsed, rest), task=parsed.task)
    code = seeds_main(cfg, parsed.seeds, parsed.jobs) if parsed.seeds else exit_code(run_one(cfg))
    if code != 0:
        raise SystemExit(code)


def verdict(samples: list[dict[str, float]], warmup: int, tolerance: float) -> tuple[str, float, float]:
    """(flat | grows | too short, growth in MiB after the warm-up, slope in MiB per 10,000 iterations)."""
    after = [s for s in samples if s["step"] >= warmup]
    if len(after) < 2:
        return "too short", 0.0, 0.0
    x = [s["step"] for s in after]
    y = [s["rss_mib"] for s in after]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / max(sum((a - mx) ** 2 for a in x), 1e-12)
    growth = max(y) - y[0]
    return ("flat" if growth <= tolerance else "grows"), growth, slope * 10_000


def dir_sizes(root: Path) -> dict[str, int]:
    """Bytes under `root` by kind of file: events, checkpoint, metrics.jsonl, pictures, other."""
    out: dict[str, int] = {}
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        name = p.name
        kind = ("events" if name.startswith("events.out") else "checkpoint" if name.endswith(".pt")
                else name if name in ("metrics.jsonl", "summary.json", "config.yaml") else
                "pictures" if name.endswith((".png", ".npy")) else "other")
        out[kind] = out.get(kind, 0) + p.stat().st_size
    return out


def soak(name: str, extra: list[str], iterations: int, every: int, warmup: float, tolerance: float) -> None:
    with tempfile.TemporaryDirectory(prefix="mixgan-soak-") as runs:
        args = [*extra, f"--train.iterations={iterations}", "--run.progress=false", f"--run.dir={runs}"]
        proc = subprocess.run([sys.executable, "-m", "mixgan.benchmarks.soak", "--child", str(every), "--",
                               *args], capture_output=True, text=True)
        samples = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"step"')]
        if proc.returncode != 0:
            raise SystemExit(f"soak: {name} failed: {proc.stderr.strip().splitlines()[-1:]}")
        sizes = dir_sizes(Path(runs))
        members = max(1, sum(1 for _ in Path(runs).rglob("config.yaml")))
    start = int(warmup * iterations)
    state, growth, slope = verdict(samples, start, tolerance)
    command = f"python -m mixgan.train {' '.join(extra)}"
    print(f"\n{name} ({iterations:,} iterations, `{command}`): resident MiB by iteration")
    print(" ".join(f"{s['step']}:{s['rss_mib']:.0f}" for s in samples))
    print(f"after the warm-up (iteration {start:,}): {state}; +{growth:.1f} MiB at most over the first "
          f"sample (tolerance {tolerance:g}), slope {slope:+.1f} MiB per 10,000 iterations")
    per_run = {k: v / members for k, v in sizes.items()}
    print(f"run dir at the end (per run of {members}): "
          + ", ".join(f"{k} {v / 2**10:.0f} KiB" for k, v in sorted(per_run.items(), key=lambda kv: -kv[1]))
          + f"; {sum(per_run.values()) / 2**10:.0f} KiB in all")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[3:], int(argv[1]))  # --child EVERY -- ARGS
        return 0
    p = argparse.ArgumentParser(prog="python -m mixgan.benchmarks.soak", description=__doc__.split("\n")[0])
    p.add_argument("--iterations", type=int, default=20_000)
    p.add_argument("--every", type=int, default=1000, help="iterations between memory samples")
    p.add_argument("--warmup", type=float, default=0.25,
                   help="fraction of the run before the verdict's baseline")
    p.add_argument("--tolerance", type=float, default=16.0, help="MiB above the first sample after warm-up")
    p.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    args = p.parse_args(argv)
    for name in args.jobs:
        soak(name, JOBS[name], args.iterations, args.every, args.warmup, args.tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
