"""Where a toy-GAN iteration's time goes: torch.profiler's table, grouped by op, for the main job
(`python -m mixgan.train --mixup`) and PacGAN's protocol (GAN and PacGAN4), one member or a stack.

    python scripts/profile_iteration.py [--seeds 1] [--iterations 20] [--rows 15] [--threads 1]

Run it on a quiet machine: the profiler times ops by the wall clock, so another process on the same
cores inflates whatever was descheduled (an elementwise op can read 10× its cost). The matmul share
printed below each table is the time in mm/addmm/bmm/baddbmm over the iteration's total.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

MATMULS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
CASES = {
    "main job (--mixup, 3×128)": (None, [("objective.name", "mixup")]),
    "PacGAN protocol, GAN": ("configs/gan/pacgan_grid.yaml", []),
    "PacGAN protocol, PacGAN4": ("configs/gan/pacgan_grid.yaml", [("stabilizers.pack", 4)]),
}


def profile(preset: str | None, overrides: list[tuple[str, Any]], seeds: int, iterations: int) -> Any:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from mixgan.config.core import load_config
    from mixgan.trainers.gan import GanTrainer

    cfgs = [load_config(preset, [*overrides, ("seed", s), ("device", "cpu")], task="gan")
            for s in range(seeds)]
    trainer = GanTrainer(cfgs, torch.device("cpu"))
    for _ in range(5):
        trainer.advance()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            trainer.advance()
    return prof


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=1, help="members of the stack")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name, (preset, overrides) in CASES.items():
        prof = profile(preset, overrides, args.seeds, args.iterations)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        mm = sum(e.self_cpu_time_total for e in events if e.key in MATMULS)
        print(f"\n## {name}: S = {args.seeds}, {args.threads} thread(s), {args.iterations} iterations, "
              f"{total / args.iterations / 1e3:.1f} ms per iteration")
        print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))
        print(f"matmul share: {mm / total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
