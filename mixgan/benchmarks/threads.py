"""`python -m mixgan.benchmarks.threads`: one main job alone vs two at once on this CPU, per OpenMP setting.

The question (issue 11): with two runs on 2 cores, does each take about twice as long as one alone,
and does the setting that makes that true cost a run alone on an idle machine more than 5 %? Each
setting runs the main job (`--mixup`, shortened) as fresh processes: once alone, then twice at
once; the settings are interleaved repeat by repeat so that a load change hits them alike.

`--seeds S` asks issue 32's other question instead: S seeds of the main job as one stack on every
core (`train --seeds`) or as one stack per core in parallel (`train --seeds --jobs CORES`), whole
processes, interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# name -> environment of the child processes. MIXGAN_OMP_DEFAULTS=0 keeps libgomp's own default
# (spin, then sleep); the mixgan default is OMP_WAIT_POLICY=PASSIVE (mixgan/__init__.py).
SETTINGS = {
    "libgomp default (spin-wait)": {"MIXGAN_OMP_DEFAULTS": "0"},
    "mixgan default (OMP_WAIT_POLICY=PASSIVE)": {},
}


def job_seconds(n: int, env: dict[str, str], iterations: int, extra: tuple[str, ...] = ()) -> float:
    """Wall seconds for n main jobs started at once (each a fresh `python -m mixgan.train` process, with
    `extra` arguments)."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    args = ["-m", "mixgan.train", "--mixup", f"--train.iterations={iterations}", "--metrics.every=50",
            "--metrics.image_every=0", "--run.progress=false", "--run.checkpoint_every=0", "--device=cpu",
            *extra]
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, *args, f"--run.dir={runs}"], env={**base, **env},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"main job failed: {err.decode()[-500:]}")
        return time.perf_counter() - start


def compare_stacks(seeds: int, iterations: int, repeats: int) -> int:
    cores = os.cpu_count() or 1
    ways = {f"one stack of {seeds}, {cores} threads": 1, f"{cores} stacks in parallel, 1 thread each": cores}
    times: dict[str, list[float]] = {name: [] for name in ways}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for r in range(repeats):
        for name, jobs in ways.items():
            times[name].append(job_seconds(1, {}, iterations, (f"--seeds=0-{seeds - 1}", f"--jobs={jobs}")))
            print(f"  repeat {r}: {name}: {times[name][-1]:.1f} s", flush=True)
    ref = statistics.median(times[next(iter(ways))])
    rows = ["| how | wall (s) | / one stack |", "|---|---|---|"]
    rows += [f"| {name} | {statistics.median(t):.1f} | {statistics.median(t) / ref:.2f} |"
             for name, t in times.items()]
    print(f"\n{seeds} seeds of the main job (--mixup), {iterations} iterations, whole processes, median of "
          f"{repeats}; load average at end: {os.getloadavg()}\n" + "\n".join(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixgan.benchmarks.threads",
                                description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=300, help="iterations of each main job")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (the median is shown)")
    p.add_argument("--seeds", type=int, default=0,
                   help="compare S seeds as one stack on every core with one stack per core instead")
    args = p.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1 or args.seeds < 0:
        p.error("--iterations, --repeats and --seeds: accepted: integers >= 1 (--seeds: 0, off)")
    if args.seeds:
        return compare_stacks(args.seeds, args.iterations, args.repeats)
    times: dict[str, dict[int, list[float]]] = {s: {1: [], 2: []} for s in SETTINGS}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for r in range(args.repeats):
        for name, env in SETTINGS.items():
            for n in (1, 2):
                times[name][n].append(job_seconds(n, env, args.iterations))
            print(f"  repeat {r}: {name}: alone {times[name][1][-1]:.1f} s, two at once "
                  f"{times[name][2][-1]:.1f} s", flush=True)
    rows = ["| setting | one job alone | two jobs at once | two / alone (target ≤ ~2) | alone vs libgomp "
            "default (target ≤ 1.05) |", "|---|---|---|---|---|"]
    ref = statistics.median(times[next(iter(SETTINGS))][1])
    for name in SETTINGS:
        one, two = (statistics.median(times[name][n]) for n in (1, 2))
        rows.append(f"| {name} | {one:.1f} s | {two:.1f} s | {two / one:.2f} | {one / ref:.2f} |")
    print(f"\nmain job (--mixup), {args.iterations} iterations per process, median of {args.repeats}; "
          f"load average at end: {os.getloadavg()}\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
