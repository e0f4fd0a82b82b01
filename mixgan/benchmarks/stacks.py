"""Bench rows for stacks of toy-GAN seeds: S seeds as one stack against the same seeds run one after
another, and the stack with its GEMMs member by member (the path of a CPU whose batched GEMMs are not
batch-invariant, models/stacked_mlp.batch_invariant), each member's bits checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mixgan.benchmarks.gan import PAPER, PAPER_NAME, Table, gan_config, timed, width


def bench_batched(device: torch.device, t: Table, seeds: int, quick: bool) -> float:
    """S seeds as one stack vs the same S seeds one after another (each a stack of one)."""
    from mixgan.trainers.gan import GanTrainer

    cfgs = [gan_config(device, [*PAPER, ("seed", s)]) for s in range(seeds)]
    single = [GanTrainer(c, device) for c in cfgs]
    stack = GanTrainer(cfgs, device)
    for _ in range(3):
        stack.advance()
        for tr in single:
            tr.advance()

    def sequential() -> None:
        for tr in single:
            tr.advance()

    fns = {"sequential": sequential, "stacked": stack.advance}
    if device.type == "cpu":  # the path of a CPU whose batched GEMMs are not batch-invariant
        one_by_one = GanTrainer(cfgs, device)
        for _ in range(3):
            one_by_one.advance()
        fns["one by one"] = lambda: _members_one_by_one(one_by_one.advance)
    sec = timed(fns, device, calls=2 if quick else 4, repeats=3)
    # The CPU promise is bit for bit (docs/design.md, "Randomness"); CUDA's is float tolerance.
    if device.type == "cpu":
        close = all(torch.equal(tr.window[0], stack.window[s]) for s, tr in enumerate(single))
    else:
        close = all(torch.allclose(tr.window[0], stack.window[s], rtol=1e-3, atol=1e-4)
                    for s, tr in enumerate(single))
    agree = ("members equal runs alone" + (" bit for bit" if device.type == "cpu" else " to tolerance")
             if close else "MEMBERS DIFFER FROM RUNS ALONE")
    t.add(f"{seeds} seeds stacked vs {seeds} sequential runs, {PAPER_NAME}", f"{width(cfgs[0])}, batch 128",
          f"{sec['stacked'] * 1e3 / seeds:.1f} vs {sec['sequential'] * 1e3 / seeds:.1f} ms per "
          f"member-iteration; {agree}", f"{sec['sequential'] / sec['stacked']:.2f}× throughput",
          "≥ 3× (S = 8, CPU)")
    if "one by one" in sec:
        same = all(torch.equal(one_by_one.window[s], stack.window[s]) for s in range(seeds))
        t.add(f"{seeds} seeds stacked, GEMMs member by member (where batched ones are not batch-invariant: "
              "models/stacked_mlp.batch_invariant)", f"{width(cfgs[0])}, batch 128, {PAPER_NAME}",
              f"{sec['one by one'] * 1e3 / seeds:.1f} ms per member-iteration; "
              + ("the same bits as the batched stack" if same else "BITS DIFFER FROM THE BATCHED STACK"),
              f"{sec['sequential'] / sec['one by one']:.2f}× the throughput of {seeds} sequential runs")
    return sec["stacked"]


def _members_one_by_one(step: Callable[[], Any]) -> None:
    """`step` with every stacked GEMM run member by member at batch 1, as on a CPU where
    models/stacked_mlp.batch_invariant finds the batched kernels give members other bits."""
    from mixgan.models import stacked_mlp

    checked = stacked_mlp.batch_invariant
    stacked_mlp.batch_invariant = lambda *shape, **kw: False
    try:
        step()
    finally:
        stacked_mlp.batch_invariant = checked
