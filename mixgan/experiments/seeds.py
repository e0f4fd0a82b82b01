"""Many seeds of one config: `python -m mixgan.train --seeds 0-9 [--jobs N]` (one run dir per seed).

The runs share the resolved config except the seed and live under one group dir,
`<run.dir>/<group>/<name>-s<seed>`. A seed that fails or diverges never stops the others; a table of
per-seed statuses closes the job. `run_seeds` is the one dispatch point: toy-GAN seeds train batched
in this process as one stack (experiments/stacks.py; MIXGAN_STACK=0 turns it off), others one after another;
with --jobs N, in N worker processes: N stacks of contiguous seeds, or one seed each where runs do not stack.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from mixgan.config.core import MAX_SEEDS
from mixgan.errors import ConfigError, first_line

SEEDS_FILE = "seeds.json"  # the group's per-seed status table, next to the run dirs


@dataclasses.dataclass
class SeedRun:
    """One seed of a group: its config (as a dict), where it goes, and how it ended."""

    seed: int
    config: dict[str, Any]
    run_dir: Path
    status: str = "pending"  # completed | diverged | interrupted | failed | skipped
    error: str = ""
    final: dict[str, float] = dataclasses.field(default_factory=dict)
    wall_time_s: float = 0.0
    stack: int = 1  # seeds trained at once with this one (its wall time is the whole stack's)


def parse_seeds(text: str) -> list[int]:
    """'0-9', '0,3,7', '0-3,8' → sorted distinct seeds; anything else is a one-line ConfigError."""
    accepted = "accepted: N, A-B or a comma list of them, e.g. 0-9, 0,3,7 or 0-3,8 (seeds >= 0)"
    seeds: set[int] = set()
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            if not part.strip().isascii():  # int() also reads other scripts' digits ('٣')
                raise ValueError(part)
            a, b = (int(lo), int(hi)) if dash else (int(lo), int(lo))
        except ValueError:
            raise ConfigError(f"--seeds: cannot read {part.strip()!r} in {text!r}; {accepted}") from None
        if a < 0 or b < a:
            raise ConfigError(f"--seeds: {part.strip()!r} is not a range of seeds >= 0; {accepted}")
        if b - a + 1 > MAX_SEEDS or len(seeds) + (b - a + 1) > 2 * MAX_SEEDS:  # before building it
            raise ConfigError(f"--seeds: {text!r} is more than {MAX_SEEDS:,} seeds; accepted: at most "
                              f"{MAX_SEEDS:,} per job (split a larger study into several groups)")
        seeds.update(range(a, b + 1))
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"--seeds: {text!r} is {len(seeds):,} seeds; accepted: at most {MAX_SEEDS:,} "
                          f"per job (split a larger study into several groups)")
    return sorted(seeds)


def seed_list(seeds: list[int]) -> str:
    """Seeds as --seeds reads them: '0-4' for a run of consecutive seeds, else '0,3,7'."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def base_name(cfg: Any) -> str:
    """The group's name: run.name, else <data>-<objective> (run names add -s<seed>)."""
    if cfg.run.name:
        return cfg.run.name
    data = getattr(getattr(cfg, "data", None), "name", cfg.task)
    obj = getattr(getattr(cfg, "objective", None), "name", "")
    return f"{data}-{obj}" if obj else str(data)


def plan_runs(cfg: Any, seeds: list[int]) -> tuple[Path, list[SeedRun]]:
    """Validate every seed's config, then create the group dir (never reusing one) and plan its runs."""
    from mixgan.config.core import config_from_dict, set_dotted, to_dict
    from mixgan.rundir.paths import new_run_dir, safe_name

    base = safe_name(base_name(cfg))
    longest = f"{base}-s{max(seeds)}"
    if len(longest) > 128:  # safe_name would cut the seed runs' names apart from their paths
        raise ConfigError(f"run.name: the seed runs would be named {longest[:20]}… ({len(longest)} "
                          "characters); accepted: names of at most 128 characters with their -s<seed>")
    configs = []
    for seed in seeds:
        data = to_dict(cfg)
        set_dotted(data, "seed", seed)
        set_dotted(data, "run.name", f"{base}-s{seed}")
        configs.append(data)
        config_from_dict(data)  # bad input stops here, before any folder exists
    group = new_run_dir(cfg.run.dir, base, unique=not cfg.run.name)
    runs = []
    for seed, data in zip(seeds, configs):
        set_dotted(data, "run.dir", str(group))
        runs.append(SeedRun(seed, data, group / data["run"]["name"]))
    return group, runs


def run_seed(run: SeedRun) -> SeedRun:
    """Train one seed in this process; an exception becomes status 'failed' (recorded in the run dir)."""
    from mixgan.config.core import config_from_dict
    from mixgan.experiments.run import run_one
    from mixgan.experiments.stacks import failed_summary

    start = time.perf_counter()
    try:
        summary = run_one(config_from_dict(run.config))
        run.status, run.final = summary["status"], dict(summary["final"])
        run.wall_time_s = float(summary["wall_time_s"])
    except Exception as err:  # one seed's crash is that seed's result, not the group's end
        run.status, run.error = "failed", first_line(err)
        run.wall_time_s = time.perf_counter() - start
        traceback.print_exc(file=sys.stderr)
        failed_summary(run.run_dir, run.error, run.wall_time_s)  # so that compare counts it as failed
    return run


def run_stacked(runs: list[SeedRun]) -> list[SeedRun]:
    """The seeds as members of stacks (mixgan/experiments/stacks.py), each seed in its own run dir."""
    from mixgan.config.core import config_from_dict, save_config
    from mixgan.errors import MixganError
    from mixgan.experiments.stacks import pack, train_stack
    from mixgan.rundir.paths import new_run_dir

    cfgs = [config_from_dict(r.config) for r in runs]
    for stack in pack(cfgs):
        ready = []
        for i in stack:
            try:
                new_run_dir(cfgs[i].run.dir, cfgs[i].run.name, unique=False)
            except MixganError as err:  # this seed fails alone; the others train without it
                runs[i].status, runs[i].error = "failed", first_line(err)
                continue
            save_config(cfgs[i], runs[i].run_dir / "config.yaml")
            ready.append(i)
        if not ready:
            continue
        import torch

        threads = torch.get_num_threads()
        print(f"\n== seeds {seed_list([runs[i].seed for i in ready])} as one stack, {threads} "
              f"thread{'s' if threads > 1 else ''} -> {runs[ready[0]].run_dir.parent}", flush=True)
        for i, summary in zip(ready, train_stack([cfgs[i] for i in ready], [runs[i].run_dir for i in ready])):
            r = runs[i]
            r.status, r.final, r.error = summary["status"], dict(summary["final"]), summary.get("error", "")
            r.wall_time_s = float(summary.get("wall_time_s") or 0.0)
            r.stack = len(ready)
        if any(runs[i].status == "interrupted" for i in ready):  # Ctrl-C: the other stacks are skipped
            for r in runs:
                if r.status == "pending":
                    r.status = "skipped"
            break
    return runs


def run_sequential(runs: list[SeedRun]) -> list[SeedRun]:
    """One seed after another in this process; Ctrl-C ends the current seed and skips the rest."""
    for i, run in enumerate(runs):
        print(f"\n== seed {run.seed} ({i + 1}/{len(runs)}) -> {run.run_dir}", flush=True)
        run_seed(run)
        if run.status == "interrupted":
            for later in runs[i + 1:]:
                later.status = "skipped"
            break
    return runs


def _worker(unit: list[SeedRun], threads: int, stacked: bool, queue: Any) -> None:
    """A worker process: one seed, or a stack of seeds, with its share of the CPU threads; its results
    go to the queue."""
    import torch

    torch.set_num_threads(threads)
    queue.put(run_stacked(unit) if stacked else [run_seed(unit[0])])


def run_parallel(runs: list[SeedRun], jobs: int, stacked: bool = False) -> list[SeedRun]:
    """Up to `jobs` workers at a time, each a fresh process (a crash stays in it) training one seed, or
    (`stacked`) the seeds split into `jobs` stacks of contiguous seeds, one per worker."""
    import multiprocessing as mp
    import signal

    from mixgan.experiments.stacks import balance

    ctx = mp.get_context("spawn")  # no forked torch/OpenMP state
    queue = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    units = balance([runs], jobs) if stacked else [[r] for r in runs]
    pending, active, by_seed = list(units), {}, {r.seed: r for r in runs}
    stop = {"requested": False}

    def on_sigint(signum: int, frame: Any) -> None:  # workers get Ctrl-C too and stop themselves
        stop["requested"] = True

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        while pending or active:
            while pending and len(active) < jobs and not stop["requested"]:
                unit = pending.pop(0)
                for run in unit:
                    run.config["run"]["progress"] = False  # several bars would garble the console
                proc = ctx.Process(target=_worker, args=(unit, threads, stacked, queue), daemon=False)
                proc.start()
                active[unit[0].seed] = (proc, unit)
                if not stacked:  # a stack says itself where it trains (run_stacked)
                    print(f"seed {unit[0].seed}: started -> {unit[0].run_dir}", flush=True)
            if stop["requested"]:
                for unit in pending:
                    for run in unit:
                        run.status = "skipped"
                pending = []
            _collect(queue, active, by_seed)
    finally:
        signal.signal(signal.SIGINT, old)
    return runs


def _collect(queue: Any, active: dict[int, Any], by_seed: dict[int, SeedRun]) -> None:
    """Wait briefly for a finished worker; one that died without a result fails its seeds."""
    import queue as queue_mod

    try:
        done = queue.get(timeout=0.5)
    except queue_mod.Empty:
        done = None
    if done is not None:
        for result in done:
            by_seed[result.seed].__dict__.update(result.__dict__)
            print(f"seed {result.seed}: {result.status}{' (' + result.error + ')' if result.error else ''}",
                  flush=True)
        active.pop(done[0].seed)[0].join()
    for first, (proc, unit) in list(active.items()):
        if not proc.is_alive() and queue.empty():
            proc.join()
            for run in unit:
                run.status, run.error = "failed", f"worker process exited with code {proc.exitcode}"
                print(f"seed {run.seed}: failed ({run.error})", flush=True)
            active.pop(first)


def run_seeds(cfg: Any, seeds: list[int], jobs: int = 1) -> tuple[Path, list[SeedRun]]:
    """Train `cfg` once per seed under one group dir; every seed runs whatever the others do."""
    if jobs < 1:
        raise ConfigError(f"--jobs: got {jobs}; accepted: an integer >= 1")
    group, runs = plan_runs(cfg, seeds)
    from mixgan.experiments.stacks import stackable, stacking_enabled

    stacked = len(runs) > 1 and stackable(cfg) and stacking_enabled()
    if jobs == 1 and stacked:  # one process, one stack
        run_stacked(runs)
    elif jobs == 1 or len(runs) == 1:
        run_sequential(runs)
    else:  # `jobs` workers: stacks of contiguous seeds (toy GANs), else one seed each
        run_parallel(runs, min(jobs, len(runs)), stacked)
    write_seeds_file(group, runs, jobs)
    return group, runs


def write_seeds_file(group: Path, runs: list[SeedRun], jobs: int) -> None:
    from mixgan.rundir.paths import write_json_atomic

    write_json_atomic(group / SEEDS_FILE, {"jobs": jobs, "runs": [
        {"seed": r.seed, "status": r.status, "error": r.error, "run_dir": str(r.run_dir),
         "wall_time_s": round(r.wall_time_s, 3), "stack_members": r.stack, "final": r.final} for r in runs]})


def status_table(runs: list[SeedRun], keys: tuple[str, ...]) -> str:
    """The closing per-seed table: seed, status, the trainer's summary metrics, time, error."""
    keys = tuple(k for k in keys if any(k in r.final for r in runs))
    stacked = max((r.stack for r in runs), default=1) > 1
    time_head = "stack time (s)" if stacked else "time (s)"
    head = ["seed", "status", *(k.split("/")[-1] for k in keys), time_head, "run dir / error"]
    lines = [head]
    for r in runs:
        vals = [f"{r.final[k]:.4g}" if k in r.final else "—" for k in keys]
        lines.append([str(r.seed), r.status, *vals, f"{r.wall_time_s:.1f}", r.error or r.run_dir.name])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines)
    if stacked:  # one process trained the seeds together: no seed has a time of its own
        most = max(r.stack for r in runs)
        text += (f"\nstack time: the wall time of the whole stack the seed trained in ({most} seeds at once, "
                 "one process), not of the seed alone")
    return text


def seeds_main(cfg: Any, seeds_text: str, jobs: int, other: tuple[str, str] | None = None) -> int:
    """`--seeds` entry point: exit 0 when every seed completed or diverged, 1 if one failed, 130 on Ctrl-C.

    `other`: the other objective and the command that trains it (train.other_objective), for the hint.
    """
    from mixgan.tasks import trainer_class

    seeds = parse_seeds(seeds_text)
    group, runs = run_seeds(cfg, seeds, jobs)
    keys = tuple(getattr(trainer_class(cfg.task), "summary_keys", ()))[:3]
    counts = {s: sum(r.status == s for r in runs) for s in dict.fromkeys(r.status for r in runs)}
    print(f"\ngroup {group}: {len(runs)} seeds, " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    print(status_table(runs, keys))
    print(f"compare them with:  python -m mixgan.compare {group}")
    if other is not None:  # the comparison the project is for: the same seeds under the other objective
        data = getattr(getattr(cfg, "data", None), "name", cfg.task)
        theirs, label = Path(cfg.run.dir) / f"{data}-{other[0]}", f"against {other[0]}:"
        if theirs.is_dir():  # trained before: compare with it (a new one would go to a -2 dir)
            print(f"{label:<20}python -m mixgan.compare {group} {theirs}  (to train it anew: {other[1]})")
        else:
            print(f"{label:<20}{other[1]}\n{'  then:':<20}python -m mixgan.compare {group} {theirs}")
    print(f"dashboard:          tensorboard --logdir {group}")
    if any(r.status in ("interrupted", "skipped") for r in runs):
        return 130
    return 1 if any(r.status == "failed" for r in runs) else 0
