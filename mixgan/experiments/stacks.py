"""Runs packed into stacks: toy-GAN runs that differ only in member settings train in one process.

`train --seeds` and `ablate` plan runs one run dir each; `pack` groups those whose configs differ only
in member keys (seed, run place, the objective's `member_keys` such as mixup's α) into stacks, and
`train_stack` trains each stack with one GanTrainer through the one loop (trainers/loop.py). Each
member writes exactly the run dir it would write alone and resumes alone or with its stack. A crash
of the shared process marks its unfinished members `failed`, each with a summary.json naming the error.
MIXGAN_STACK=0 (or ablate's `--no-stack`) trains every run on its own instead. `ablate` starts one
`python -m mixgan.experiments.stacks SPEC.json` process per stack (SPEC: each member's `mixgan.train`
arguments).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TypeVar

from mixgan.errors import ConfigError, first_line

ENV = "MIXGAN_STACK"  # 0: never pack runs into stacks
USAGE = """usage: python -m mixgan.experiments.stacks SPEC.json (a stack spec, written by mixgan.ablate)
   or: python -m mixgan.experiments.stacks --resume RUN_DIR [RUN_DIR ...] [--train.iterations=N ...]
Train the members of one stack in one process, or resume interrupted toy-GAN runs that stand at one
step as one stack (each member from its own checkpoint; the keys a resume may change, as with
python -m mixgan.train --resume)."""
T = TypeVar("T")  # a stack's runs: indices, jobs
MAX_MEMBERS = 256  # members per stack: more are split into several stacks (memory, and one bad member)


def stacking_enabled() -> bool:
    return os.environ.get(ENV, os.environ.get("MIXGAN_BATCH_SEEDS", "1")) != "0"


def stackable(cfg: Any) -> bool:
    """Whether this config's runs can train as members of a stack (every toy-GAN model family stacks)."""
    return cfg.task == "gan"


def pack(cfgs: list[Any], max_members: int = MAX_MEMBERS) -> list[list[int]]:
    """Indices of `cfgs` grouped into stacks (configs equal but for member keys), in first-seen order."""
    from mixgan.trainers.gan import stack_key

    groups: dict[Any, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        key = stack_key(cfg) if stackable(cfg) else ("alone", i)
        groups.setdefault(key, []).append(i)
    return [idx[k:k + max_members] for idx in groups.values() for k in range(0, len(idx), max_members)]


def balance(groups: list[list[T]], workers: int) -> list[list[T]]:
    """`groups` (stacks, in the order they start) with the last round's stacks split, where they have the
    members, so that the round fills all `workers`: a sweep's last row then trains as two stacks of 5 on
    two cores, not one of 10 beside an idle core. Parts are contiguous (seeds 0-4 and 5-9) and near-equal;
    the larger stacks split first. A member computes the same numbers in a stack of any size
    (tests/test_stacks.py), so this changes when runs finish, not what they compute."""
    tail = len(groups) % workers if workers > 1 else 0
    if tail == 0:
        return groups
    last, parts = groups[-tail:], [1] * tail
    for _ in range(workers - tail):
        open_ = [j for j in range(tail) if parts[j] < len(last[j])]
        if not open_:
            break
        parts[max(open_, key=lambda j: len(last[j]) / parts[j])] += 1
    out = groups[:-tail]
    for g, k in zip(last, parts):
        out += [g[j * len(g) // k:(j + 1) * len(g) // k] for j in range(k)]
    return out


def failed_summary(run_dir: Path, error: str, wall: float) -> dict[str, Any]:
    """summary.json of a run that crashed: status failed and the error's first line."""
    from mixgan.rundir.paths import SUMMARY, provenance, write_json_atomic

    summary = {"status": "failed", "error": error, "step": None, "total": None, "diverged_at": None,
               "final": {}, "wall_time_s": round(wall, 3), "run_dir": str(run_dir), "versions": provenance()}
    if run_dir.is_dir() and not (run_dir / SUMMARY).exists():
        write_json_atomic(run_dir / SUMMARY, summary)
    return summary


def train_stack(cfgs: list[Any], run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Train one stack whose members' run dirs exist and hold their config; return their summaries.

    A crash of the stack (an exception in the shared step) is every unfinished member's result.
    """
    from mixgan.experiments.run import resolve_device
    from mixgan.rundir.paths import SUMMARY
    from mixgan.trainers.gan import GanTrainer
    from mixgan.trainers.loop import print_summary, run_stack

    start = time.perf_counter()
    try:
        trainer = GanTrainer(cfgs, resolve_device(cfgs[0].device))
        summaries = run_stack(trainer, cfgs, run_dirs)
    except Exception as err:  # the shared process failed: each member records it
        traceback.print_exc(file=sys.stderr)
        error, wall = first_line(err), time.perf_counter() - start
        from mixgan.rundir.paths import read_json

        return [read_json(d / SUMMARY) if (d / SUMMARY).exists() else failed_summary(d, error, wall)
                for d in run_dirs]
    for summary in summaries:
        print_summary(summary, GanTrainer.summary_keys)
    return summaries


def resume_stack(run_dirs: list[Path],
                 overrides: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Resume interrupted toy-GAN runs that stand at one step as one stack again: each member loads its
    own checkpoint (a member's checkpoint is its run's, so this gives what resuming each alone gives,
    S times faster where stacking pays). `overrides`: the keys a resume may change (train.iterations to
    extend the runs, ...), as `mixgan.train --resume` takes them. Members at different steps or of
    different stacks: one line. Each run dir's lock is held while training, as a resume alone holds it."""
    from mixgan.rundir.checkpoint import CHECKPOINT
    from mixgan.rundir.paths import check_outputs, run_dir_lock

    for d in run_dirs:
        if not (d / CHECKPOINT).is_file():
            raise ConfigError(f"--resume: {d} has no checkpoint.pt; accepted: run dirs of interrupted runs")
        check_outputs(d, "--resume")
    with run_dir_lock(run_dirs):
        return _resume_stack(run_dirs, overrides or [])


def _resume_stack(run_dirs: list[Path], overrides: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    import copy

    from mixgan.config.core import config_from_dict
    from mixgan.config.resume import apply_resume_overrides, check_total
    from mixgan.experiments.run import resolve_device
    from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
    from mixgan.rundir.paths import remove_orphans
    from mixgan.trainers.gan import GanTrainer
    from mixgan.trainers.loop import print_summary, run_stack

    states = [load_checkpoint(d / CHECKPOINT) for d in run_dirs]
    steps = {int(st["step"]) for st in states}
    if len(steps) != 1:
        raise ConfigError(f"--resume: the runs stand at steps {sorted(steps)}; accepted: runs at one step "
                          "(resume the others alone: python -m mixgan.train --resume RUN_DIR)")
    cfgs = []
    for d, st in zip(run_dirs, states):
        if not isinstance(st["config"], dict) or st["config"].get("task") != "gan":
            raise ConfigError(f"--resume: {d} is not a toy-GAN run; accepted: toy-GAN runs (resume others "
                              "alone: python -m mixgan.train --resume RUN_DIR)")
        data = copy.deepcopy(st["config"])
        apply_resume_overrides(data, overrides)
        cfg = config_from_dict(data)
        check_total(cfg, st["config"], int(st["step"]), d / CHECKPOINT)
        cfgs.append(cfg)
    if len(pack(cfgs, max_members=len(cfgs))) != 1:
        raise ConfigError("--resume: the runs differ in more than their member settings; accepted: the "
                          "members of one stack")
    trainer = GanTrainer(cfgs, resolve_device(cfgs[0].device))
    try:
        trainer.load_member_states([st["trainer"] for st in states])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ConfigError(f"--resume: a checkpoint does not fit its stack ({first_line(err)})") from None
    trainer.step = steps.pop()
    for d in run_dirs:
        remove_orphans(d)
    summaries = run_stack(trainer, cfgs, run_dirs, resumed=True,
                          wall_time=max(float(st.get("wall_time", 0.0)) for st in states))
    for summary in summaries:
        print_summary(summary, GanTrainer.summary_keys)
    return summaries


def configs_of(member_args: list[list[str]]) -> list[Any]:
    """Each member's config, built from its `python -m mixgan.train` arguments as train would."""
    from mixgan.config.cli import config_from_args

    return [config_from_args(argv) for argv in member_args]


def main(argv: list[str] | None = None) -> int:
    """`python -m mixgan.experiments.stacks SPEC.json`: train fresh runs as one stack; 0 done, 130
    interrupted,
    1 a member failed, 2 bad input (before any run dir is written)."""
    from mixgan.config.core import save_config
    from mixgan.errors import MixganError
    from mixgan.rundir.paths import new_run_dir

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if argv[:1] == ["--resume"]:  # python -m mixgan.experiments.stacks --resume RUN_DIR RUN_DIR ...
        from mixgan.config.cli import parse_overrides
        from mixgan.trainers.loop import exit_code

        rest = argv[1:]  # the run dirs, then the keys to change
        first_key = next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))
        try:
            if first_key == 0:
                raise ConfigError("--resume: no run dirs given; accepted: --resume RUN_DIR [RUN_DIR ...] "
                                  "[--train.iterations=N ...]")
            overrides = parse_overrides(rest[first_key:])
            summaries = resume_stack([Path(a) for a in rest[:first_key]], overrides)
        except MixganError as err:
            print(f"mixgan.experiments.stacks: error: {err}", file=sys.stderr)
            return 2
        stopped = [s for s in summaries if s["status"] == "interrupted"]
        return exit_code(stopped[0]) if stopped else max(exit_code(s) for s in summaries)
    try:
        if len(argv) != 1:
            raise ConfigError(USAGE.splitlines()[0])
        try:
            spec = json.loads(Path(argv[0]).read_text())
            members = spec["members"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{argv[0]}: not a stack spec ({first_line(err)})") from None
        cfgs = configs_of(members)
        if len(pack(cfgs, max_members=len(cfgs))) != 1:
            raise ConfigError(f"{argv[0]}: members differ in more than their member settings")
        run_dirs = [new_run_dir(c.run.dir, c.run.name, unique=False) for c in cfgs]
    except MixganError as err:
        print(f"mixgan.experiments.stacks: error: {err}", file=sys.stderr)
        return 2
    for cfg, run_dir in zip(cfgs, run_dirs):
        save_config(cfg, run_dir / "config.yaml")
    print(f"{len(cfgs)} runs as one stack: {', '.join(d.name for d in run_dirs)}", flush=True)
    from mixgan.trainers.loop import exit_code

    summaries = train_stack(cfgs, run_dirs)
    stopped = [s for s in summaries if s["status"] == "interrupted"]  # 130 Ctrl-C, 143 SIGTERM, ...
    return exit_code(stopped[0]) if stopped else max(exit_code(s) for s in summaries)


if __name__ == "__main__":
    sys.exit(main())
