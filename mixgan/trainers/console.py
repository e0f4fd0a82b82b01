"""What a run shows on the console: the progress bar's postfix and the closing lines, each number of a
toy GAN next to what the data, one mode and uniform noise score (docs/design.md, habit 15)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any


def _short(metrics: dict[str, float], keys: tuple[str, ...]) -> dict[str, str]:
    """Last parts of the names (`modes`), the whole name where two share one (final_large/modes)."""
    out: dict[str, str] = {}
    for k in keys:
        if k in metrics:
            out[k if k.split("/")[-1] in out else k.split("/")[-1]] = f"{metrics[k]:.4g}"
    return out


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS has one, else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def where(trainer: Any) -> str:
    """The run's first line: the device, and on the CPU how many torch threads of how many cores (and
    whether OMP_NUM_THREADS chose them: a sweep gives each of its parallel runs its share)."""
    import torch

    device = getattr(trainer, "device", None)
    if device is not None and device.type == "cuda":
        return f"training on {torch.cuda.get_device_name(device)} ({device})"
    cores = usable_cores()
    env = os.environ.get("OMP_NUM_THREADS")
    threads = torch.get_num_threads()
    return (f"training on the CPU: {threads} thread{'s' * (threads != 1)} of {cores} "
            f"core{'s' * (cores != 1)}" + (f" (OMP_NUM_THREADS={env})" if env else ""))


def postfix(members: list[Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The bar's postfix after a measurement: one run's key numbers and its verdict; for a stack, how
    many of its running members have each verdict (their numbers would not fit one line)."""
    verdicts = [m.health.verdict for m in members if m.health is not None]
    if len(members) == 1:
        return {**_short(members[0].last, keys), **({"health": verdicts[0]} if verdicts else {})}
    return {"health": ", ".join(f"{n} {v}" for v, n in Counter(verdicts).items())} if verdicts else {}


def print_summary(summary: dict[str, Any], keys: tuple[str, ...]) -> None:
    """The closing lines of a run: status, key metrics (a toy GAN's beside the noise's, one mode's and
    the data's), its health verdict, and how to open TensorBoard; a failed run's one line on stderr."""
    from mixgan.metrics.health import annotate

    if summary["status"] == "failed":
        print(f"mixgan: error: {summary['run_dir']} failed at step {summary['step']}: "
              f"{summary.get('error', '')}", file=sys.stderr)
        return
    final, health = summary["final"], summary.get("health") or {}
    width = max((len(k) for k in keys), default=10)
    stack = summary.get("members_in_stack")
    print(f"\nrun {summary['run_dir']}: {summary['status']} at step {summary['step']}/"
          f"{summary['total']} in {summary['wall_time_s']:.1f} s"
          + (f" (the whole stack of {stack} runs trained at once)" if stack else ""))
    if summary["diverged_at"] is not None:
        print(f"  non-finite loss first seen at step {summary['diverged_at']}")
    refs = {"references": summary["references"]} if summary.get("references") else health
    for k in keys:
        if k in final:
            print(f"  {k:<{width}}  {annotate(k, final[k], refs)}")
    if health:
        print(f"  health at step {health['step']}: {health['verdict']}: {health['why']}")
    print(f"open it with:  tensorboard --logdir {summary['run_dir']}")
