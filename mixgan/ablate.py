"""`python -m mixgan.ablate SWEEP.yaml [--jobs N] [--dry-run] [--only PATTERN] [--report] [--retry-failed]`.

Expands a sweep file (configs/ablation/) into runs, trains each as its own `python -m mixgan.train`
process (finished runs are skipped, interrupted ones resumed), then prints one table over seeds.
Exit code: 0 every selected run finished (completed or diverged), 1 some run failed, 2 bad input,
130 interrupted (run the same command again to continue).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixgan.config.sweep import Run, Sweep, cli_value, load_sweep, select
from mixgan.errors import ConfigError, MixganError
from mixgan.experiments.executor import (
    LOCKS,
    Children,
    Job,
    default_jobs,
    make_submitit,
    run_local,
    run_submitit,
)
from mixgan.rundir.paths import check_writable
from mixgan.rundir.validate import FINISHED, run_state, shorter_than


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise ConfigError(message)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mixgan.ablate", description=__doc__.splitlines()[0])
    p.add_argument("sweep", metavar="SWEEP.yaml",
                   help="sweep file (e.g. configs/ablation/gan_demo_short.yaml)")
    p.add_argument("--out", metavar="DIR", help="sweep dir holding the runs (default runs/ablation/<name>)")
    p.add_argument("--jobs", type=int, help="runs at a time (default: one per GPU, else one per CPU core)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="run only runs whose name matches (glob, or substring; repeatable)")
    p.add_argument("--report", action="store_true", help="only (re)write and print the results table")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--no-stack", action="store_true",
                   help="train every run in its own process (default: toy-GAN runs that differ only in "
                        "seed or member settings such as mixup's alpha train as one stack)")
    p.add_argument("--executor", choices=["local", "slurm", "submitit-local"], default="local",
                   help="local process pool (default), Slurm jobs via submitit, or submitit's local "
                        "executor (the Slurm path on this machine)")
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument("--time", type=int, default=24 * 60, metavar="MIN", help="slurm: time limit per run")
    p.add_argument("--gpus", type=int, help="slurm: GPUs per run (default 1; 0 for submitit-local)")
    p.add_argument("--cpus", type=int, default=8, help="slurm: CPU cores per run")
    p.add_argument("--mem-gb", type=int, help="slurm: memory per run")
    return p


def check_existing(sweep: Sweep, sweep_dir: Path) -> None:
    """Refuse to count (or resume) a run made with another config under the same name. A key the run's
    config.yaml lacks counts as its default: it was added to mixgan after the run, which ran without it."""
    from mixgan.config.core import flatten, load_config, read_yaml, to_dict
    from mixgan.config.resume import total_key

    bookkeeping = ("run", "device")  # where a run went, not what it trained
    defaults = flatten({k: v for k, v in to_dict(load_config(None, [], task=sweep.task)).items()
                        if k not in bookkeeping}) if sweep.task else {}
    for run in sweep.runs:
        path = sweep_dir / run.name / "config.yaml"
        if not path.exists() or run_state(path.parent) in ("partial", "pending"):
            continue  # nothing of it is kept: it starts afresh
        saved = {**defaults, **flatten({k: v for k, v in read_yaml(path).items() if k not in bookkeeping})}
        want = flatten({k: v for k, v in sweep.configs[run.name].items() if k != "device"})
        for key in sorted(set(saved) | set(want)):
            if key == total_key(sweep.task or "") and _longer(want.get(key), saved.get(key)):
                continue  # a raised length: the run resumes to it (a resume may extend a run)
            if saved.get(key) != want.get(key):
                raise ConfigError(
                    f"{path.parent} was made with {key}={saved.get(key)!r} but the sweep now gives "
                    f"{want.get(key)!r}; use another --out or delete that run dir")


def _longer(want: Any, saved: Any) -> bool:
    return isinstance(want, int) and isinstance(saved, int) and want > saved


def _extend(sweep: Sweep, run: Run) -> tuple[str, int] | None:
    """(length key, the sweep's length) of a run, which a resume takes to extend a shorter run."""
    from mixgan.config.core import flatten
    from mixgan.config.resume import total_key

    key = total_key(sweep.task or "")
    total = flatten(sweep.configs[run.name]).get(key)
    return (key, total) if isinstance(total, int) else None


def _locked(sweep_dir: Path, name: str) -> bool:
    import fcntl
    import os

    path = sweep_dir / LOCKS / f"{name}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def plan(sweep: Sweep, runs: list[Run], sweep_dir: Path, retry_failed: bool, verbose: bool) -> list[Run]:
    """Print what will happen to each run; return the runs to train."""
    states = {r.name: run_state(sweep_dir / r.name) for r in runs}
    for r in runs:  # a completed run below a raised train.iterations resumes to it
        ext = _extend(sweep, r)
        if states[r.name] == "completed" and ext and shorter_than(sweep_dir / r.name, ext[1]):
            states[r.name] = "to extend"
    busy = [r.name for r in runs if states[r.name] not in FINISHED and _locked(sweep_dir, r.name)]
    todo = [r for r in runs
            if states[r.name] not in FINISHED and (states[r.name] != "failed" or retry_failed)]
    n_rows = len({r.row for r in runs})
    print(f"sweep {sweep.name} ({sweep.task}): {len(runs)} runs = {n_rows} rows × seeds, in {sweep_dir}")
    if verbose:
        width = max(len(r.name) for r in runs)
        for r in runs:
            state = "running elsewhere" if r.name in busy else states[r.name]
            sets = " ".join(f"--{k}={cli_value(v)}" for k, v in r.overrides)
            print(f"  {r.name:<{width}}  {state:<11}  {sets}")
    counts: dict[str, int] = {}
    for s in states.values():
        counts[s] = counts.get(s, 0) + 1
    done = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    resume = sum(states[r.name] in ("interrupted", "to extend") for r in todo)
    failed = "" if retry_failed or not counts.get("failed") else " (--retry-failed runs failed ones again)"
    print(f"{done}; to run: {len(todo)}" + (f" ({resume} resumed)" if resume else "") + failed)
    if busy:
        print(f"{len(busy)} runs are being trained by another process: waiting for them last")
    return todo


def _write_inputs(sweep: Sweep, sweep_dir: Path) -> None:
    """Keep the sweep file (and an inline base config) with the runs, for provenance."""
    import yaml

    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(sweep.path.read_text())
    if sweep.base_inline is not None:
        (sweep_dir / "base.yaml").write_text(yaml.safe_dump(sweep.base_inline, sort_keys=False))


def submitit_executor(args: argparse.Namespace, sweep: Sweep, sweep_dir: Path) -> Any:
    """The submitit executor of --executor slurm / submitit-local, with the per-run resources."""
    cluster = "slurm" if args.executor == "slurm" else "local"
    gpus = args.gpus if args.gpus is not None else (1 if cluster == "slurm" else 0)
    params: dict[str, Any] = {"timeout_min": args.time, "gpus_per_node": gpus, "cpus_per_task": args.cpus,
                              "name": f"ablate-{sweep.name}"}
    if cluster == "slurm":
        params.update({k: v for k, v in (("slurm_partition", args.partition), ("mem_gb", args.mem_gb),
                                         ("slurm_array_parallelism", args.jobs)) if v})
    return make_submitit(sweep_dir.resolve() / ".submitit", cluster, params)


def stack_groups(sweep: Sweep, todo: list[Run], jobs: list[Job], args: argparse.Namespace) -> list[list[Job]]:
    """The jobs grouped into stacks (experiments/stacks.py): runs that differ only in member settings (seed,
    mixup's α, ...) train as one process; each run alone with --no-stack or MIXGAN_STACK=0."""
    from mixgan.config.core import config_from_dict
    from mixgan.experiments.stacks import pack, stacking_enabled

    if args.no_stack or not stacking_enabled():
        return [[job] for job in jobs]
    cfgs = [config_from_dict({**sweep.configs[r.name], "run": {"name": r.name}}) for r in todo]
    return [[jobs[i] for i in stack] for stack in pack(cfgs)]


def balance_groups(groups: list[list[Job]], workers: int, say: Callable[[str], None]) -> list[list[Job]]:
    """The stacks with the last round's split to fill every worker (experiments/stacks.balance), said in
    one line when it splits one."""
    from mixgan.experiments.stacks import balance

    split = balance(groups, workers)
    if len(split) > len(groups):
        head = len(groups) - len(groups) % workers
        sizes = " + ".join(str(len(g)) for g in split[head:])
        say(f"{len(split)} stacks on {workers} workers: the last round split into {sizes} runs so that no "
            "worker idles (a member computes the same numbers in any stack)")
    return split


def train_all(sweep: Sweep, todo: list[Run], sweep_dir: Path, args: argparse.Namespace,
              executor: Any = None) -> bool:
    """Train the runs with one progress bar (member-iterations, rate, ETA); return True when
    interrupted (Ctrl-C / SIGTERM)."""
    from mixgan.experiments.progress import SweepProgress

    children = Children()
    where = sweep_dir.resolve()  # children (and Slurm jobs) may start in another working dir
    jobs = [Job(r.name, str(where), sweep.train_args(r, where), args.retry_failed, extend=_extend(sweep, r))
            for r in todo]
    groups = stack_groups(sweep, todo, jobs, args)
    lengths = {r.name: sweep.configs[r.name].get("train", {}).get("iterations") for r in todo}
    progress = SweepProgress(sweep.name, where, lengths)

    def on_signal(signum: int, frame: Any) -> None:
        again = children.stop.is_set()
        n = children.interrupt()
        progress.write(f"stopping now ({n} runs)" if again else
                       f"stopping: {n} runs checkpoint and exit; nothing new starts (Ctrl-C again: stop now)")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with progress:
            if args.executor == "local":
                n = args.jobs or default_jobs()[0]
                groups = balance_groups(groups, n, progress.write)
                run_local(groups, n, default_jobs()[1], progress.done, children)
            else:
                run_submitit(groups, executor, progress.done, children)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return children.stop.is_set()


def stability_table(sweep: Sweep, sweep_dir: Path) -> str | None:
    """For GAN sweeps: mixgan.compare's stability table over the finished runs (None if unavailable)."""
    if sweep.task != "gan":
        return None
    try:
        from mixgan.compare import compare
    except ImportError:
        return None
    dirs = [sweep_dir / r.name for r in sweep.runs
            if run_state(sweep_dir / r.name) in ("completed", "diverged")]
    if not dirs:
        return None
    rows = list(dict.fromkeys(r.row for r in sweep.runs))
    # Differences to the first row (the sweep's first variant) when the rows share one data set.
    baseline = rows[0] if len(rows) > 1 and "data.name" not in sweep.grid_keys else None
    try:
        _, _, text = compare(dirs, sweep_dir / "stability", plots=False, by="row", baseline=baseline)
    except MixganError as err:
        return f"(mixgan.compare: {err})"
    return text


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = make_parser().parse_args(argv)
        if args.jobs is not None and args.jobs < 1:
            raise ConfigError(f"--jobs: got {args.jobs}; accepted: an integer >= 1")
        sweep = load_sweep(args.sweep)
        sweep_dir = Path(args.out or Path("runs") / "ablation" / sweep.name)
        if not args.dry_run:  # a dry run writes nothing
            check_writable(sweep_dir, "--out")
        check_existing(sweep, sweep_dir)
        runs = select(sweep.runs, args.only)
        if not runs:
            raise ConfigError(f"--only: {', '.join(args.only)} matches no run; e.g. {sweep.runs[0].name}")
        executor = submitit_executor(args, sweep, sweep_dir) if args.executor != "local" else None
        if args.report:
            if not sweep_dir.is_dir():
                raise ConfigError(f"--report: no sweep dir at {sweep_dir}; run the sweep first or give --out")
        else:
            todo = plan(sweep, runs, sweep_dir, args.retry_failed, verbose=args.dry_run)
    except MixganError as err:
        print(f"mixgan.ablate: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while checking the sweep: nothing has been written yet
        print("mixgan.ablate: interrupted", file=sys.stderr)
        return 130
    from mixgan.report.sweep import write_report

    interrupted = False
    if not args.report and not args.dry_run:
        _write_inputs(sweep, sweep_dir)
        interrupted = train_all(sweep, todo, sweep_dir, args, executor) if todo else False
    if args.dry_run:
        return 0
    print()
    print(write_report(sweep, sweep_dir, stability_table))
    print(f"\nwrote {sweep_dir / 'report.md'} and {sweep_dir / 'report.csv'}")
    if interrupted:
        print(f"interrupted: run the same command again to continue ({sweep_dir})", file=sys.stderr)
        return 130
    failed = [r.name for r in runs if run_state(sweep_dir / r.name) == "failed"]
    if failed and not args.report:
        print(f"{len(failed)} runs failed (see {sweep_dir}/<run>/failed.json and .logs/): "
              f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `--dry-run | head`: the reader left early, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
