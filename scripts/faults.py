"""Fault injection: N kills at random moments of a short run and of a short sweep, each resumed and compared
with the uninterrupted run (docs/reliability.md reports its figures).

    python scripts/faults.py [--kills 5] [--sweep-kills 3] [--iterations 40] [--seed 0] [--out DIR]

A run: `python -m mixgan.train` is killed (SIGKILL, SIGTERM or SIGINT, chosen at random) after a random
delay within the uninterrupted run's own duration, then `--resume`d until it ends; its metrics.jsonl
rows and summary must equal the uninterrupted run's. A run killed before its run dir holds a
config.yaml cannot be resumed (there is nothing to resume): it is started again, and counted so. A
sweep: `python -m mixgan.ablate` and every process under it are killed with SIGKILL (a node lost),
then the same command is run again until it exits 0; each run's rows must equal the uninterrupted
sweep's. Prints one summary line per part and exits 1 when any result differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


def run_args(iterations: int) -> list[str]:
    return [f"--train.iterations={iterations}", "--model.hidden=32", "--metrics.every=5",
            "--metrics.image_every=0", "--metrics.n_samples=200", "--run.progress=false",
            f"--run.checkpoint_every={max(1, iterations // 4)}"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "PYTHONPATH": str(ROOT)}


def python(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def result(run_dir: Path) -> tuple[list[dict], dict]:
    """The rows and the summary's status, step and final numbers: what must equal the uninterrupted run."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run_dir / "summary.json").read_text())
    return rows, {k: summary.get(k) for k in ("status", "step", "total", "final")}


def descendants(pid: int) -> list[int]:
    """pid and every process below it (through /proc), parents before their children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return out


def kill_run(args: list[str], run_dir: Path, delay: float, sig: signal.Signals) -> str:
    """Start the run, send `sig` after `delay` seconds, then resume it until it ends; how it went."""
    proc = python("-m", "mixgan.train", *args)
    try:
        proc.wait(timeout=delay)
        how = "ended before the kill"
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        proc.wait()
        how = f"{sig.name} at {delay:.2f}s"
    for _ in range(10):
        if not (run_dir / "config.yaml").exists():  # killed before the run dir held its config
            shutil.rmtree(run_dir, ignore_errors=True)
            how += ", started again"
            code = python("-m", "mixgan.train", *args).wait()
        else:
            resume = python("-m", "mixgan.train", "--resume", str(run_dir), "--run.progress=false")
            code = resume.wait()
            how += f", resumed (exit {code})"
            if code not in (0, 130, 143):
                how += f": {resume.stderr.read().strip()[-200:]}"
        if code == 0:
            return how
    return how + ", never ended"


def part_run(n: int, iterations: int, rng: random.Random, work: Path) -> tuple[int, int, list[str]]:
    args = run_args(iterations)
    start = time.perf_counter()
    assert python("-m", "mixgan.train", *args, f"--run.dir={work}", "--run.name=whole").wait() == 0
    duration = time.perf_counter() - start
    want = result(work / "whole")
    same, notes = 0, []
    for i in range(n):
        sig, delay = rng.choice(SIGNALS), rng.uniform(0.0, duration)
        name = f"cut{i}"
        how = kill_run([*args, f"--run.dir={work}", f"--run.name={name}"], work / name, delay, sig)
        ok = (work / name / "summary.json").exists() and result(work / name) == want
        same += ok
        notes.append(f"  run kill {i + 1}: {how}: {'identical' if ok else 'DIFFERENT'}")
    return same, n, notes


SWEEP = """
base: configs/gan/default.yaml
overrides: {{model.hidden: 16, train.iterations: {it}, metrics.every: 5, metrics.n_samples: 100,
            metrics.image_every: 0, run.checkpoint_every: {ck}}}
variants: {{erm: {{}}, mixup: {{objective.name: mixup}}}}
seeds: [0, 1]
metrics: [quality/modes]
"""


def part_sweep(n: int, iterations: int, rng: random.Random, work: Path) -> tuple[int, int, list[str]]:
    spec = work / "sweep.yaml"
    spec.write_text(SWEEP.format(it=iterations, ck=max(1, iterations // 4)))
    ablate = ["-m", "mixgan.ablate", str(spec), "--jobs=1", "--no-stack"]
    start = time.perf_counter()
    assert python(*ablate, f"--out={work / 'whole'}").wait() == 0
    duration = time.perf_counter() - start
    names = sorted(p.name for p in (work / "whole").iterdir() if (p / "summary.json").exists())
    want = {name: result(work / "whole" / name) for name in names}
    same, notes = 0, []
    for i in range(n):
        out, delay = work / f"cut{i}", rng.uniform(0.0, duration)
        proc = python(*ablate, f"--out={out}")
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            # The runner and every run under it at once, as when a node is lost: all are stopped first,
            # so that none sees another die (a runner that saw its child killed would record a failure).
            pids = descendants(proc.pid)
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            proc.wait()
        codes: list[int] = []
        while not codes or (codes[-1] != 0 and len(codes) < 5):
            codes.append(python(*ablate, f"--out={out}").wait())
        got = {name: result(out / name) for name in names if (out / name / "summary.json").exists()}
        ok = got == want
        same += ok
        notes.append(f"  sweep kill {i + 1}: SIGKILL of the runner and its runs at {delay:.2f}s, rerun "
                     f"(exits {codes}): {'identical' if ok else 'DIFFERENT'}")
    return same, n, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kills of a run")
    parser.add_argument("--sweep-kills", type=int, default=3, help="kills of a sweep")
    parser.add_argument("--iterations", type=int, default=40, help="length of the run and of each sweep run")
    parser.add_argument("--seed", type=int, default=0, help="the kills' random moments and signals")
    parser.add_argument("--out", type=Path, default=None, help="work folder (a temp folder when omitted)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.out or Path(tempfile.mkdtemp(prefix="mixgan-faults-"))
    (work / "run").mkdir(parents=True, exist_ok=True)
    (work / "sweep").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    lines, bad = [], 0
    for label, part, n in (("run", part_run, args.kills), ("sweep", part_sweep, args.sweep_kills)):
        if n <= 0:
            continue
        same, total, notes = part(n, args.iterations, rng, work / label)
        bad += total - same
        print("\n".join(notes))
        lines.append(f"{label}: {same}/{total} killed and resumed identical to the uninterrupted {label} "
                     f"({args.iterations} iterations)")
    print("\n".join(lines) + f"\n{time.perf_counter() - start:.0f} s, work folder {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
