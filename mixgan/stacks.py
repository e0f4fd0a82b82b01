"""Runs packed into stacks: toy-GAN runs that differ only in member settings train in one process.

`train --seeds` and `ablate` plan runs one run dir each; `pack` groups those whose configs differ only
in member keys (seed, run place, the objective's `member_keys` such as mixup's α) into stacks, and
`run_packed` trains each stack with one GanTrainer through the one loop (trainers/loop.py). Each
member writes exactly the run dir it would write alone and resumes alone or with its stack. A crash
of the shared process marks its unfinished members `failed`, each with a summary.json naming the error.
MIXGAN_STACK=0 (or `--no-stack`) trains every run on its own instead.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from mixgan.errors import first_line

ENV = "MIXGAN_STACK"  # 0: never pack runs into stacks
MAX_MEMBERS = 256  # members per stack: more are split into several stacks (memory, and one bad member)


def stacking_enabled() -> bool:
    return os.environ.get(ENV, os.environ.get("MIXGAN_BATCH_SEEDS", "1")) != "0"


def stackable(cfg: Any) -> bool:
    """Whether this config's runs can train as members of a stack (toy-GAN MLPs)."""
    return cfg.task == "gan" and cfg.model.name == "mlp"


def pack(cfgs: list[Any], max_members: int = MAX_MEMBERS) -> list[list[int]]:
    """Indices of `cfgs` grouped into stacks (configs equal but for member keys), in first-seen order."""
    from mixgan.trainers.gan import stack_key

    groups: dict[Any, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        key = stack_key(cfg) if stackable(cfg) else ("alone", i)
        groups.setdefault(key, []).append(i)
    return [idx[k:k + max_members] for idx in groups.values() for k in range(0, len(idx), max_members)]


def failed_summary(run_dir: Path, error: str, wall: float) -> dict[str, Any]:
    """summary.json of a run that crashed: status failed and the error's first line."""
    from mixgan.rundir import provenance, write_json_atomic
    from mixgan.trainers.loop import SUMMARY

    summary = {"status": "failed", "error": error, "step": None, "total": None, "diverged_at": None,
               "final": {}, "wall_time_s": round(wall, 3), "run_dir": str(run_dir), "versions": provenance()}
    if run_dir.is_dir() and not (run_dir / SUMMARY).exists():
        write_json_atomic(run_dir / SUMMARY, summary)
    return summary


def train_stack(cfgs: list[Any], run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Train one stack whose members' run dirs exist and hold their config; return their summaries.

    A crash of the stack (an exception in the shared step) is every unfinished member's result.
    """
    from mixgan.train import resolve_device
    from mixgan.trainers.gan import GanTrainer
    from mixgan.trainers.loop import SUMMARY, print_summary, run_stack

    start = time.perf_counter()
    try:
        trainer = GanTrainer(cfgs, resolve_device(cfgs[0].device))
        summaries = run_stack(trainer, cfgs, run_dirs)
    except Exception as err:  # the shared process failed: each member records it
        traceback.print_exc(file=sys.stderr)
        error, wall = first_line(err), time.perf_counter() - start
        from mixgan.rundir import read_json

        return [read_json(d / SUMMARY) if (d / SUMMARY).exists() else failed_summary(d, error, wall)
                for d in run_dirs]
    for summary in summaries:
        print_summary(summary, GanTrainer.summary_keys)
    return summaries
