"""Bench rows for PacGAN's toy protocol (configs/gan/pacgan_grid.yaml): the iteration of GAN and PacGAN4,
alone and as a stack of 10 seeds, each beside its matmul floor (its own GEMMs replayed alone, same run),
and the stack's throughput against the same seeds run one after another.

The iteration is ALI's simultaneous update of a 4 × 400 batch-norm G and a 3 × 200 × 5 maxout D on 100
(packs of) points; PacGAN-m's G makes m times as many points (docs/pacgan_table1.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mixgan.benchmarks.gan import Table, matmuls_alone, timed

PRESET = "configs/gan/pacgan_grid.yaml"


def protocol_config(device: torch.device, seed: int, pack: int) -> Any:
    from mixgan.config.core import load_config

    return load_config(PRESET, [("seed", seed), ("stabilizers.pack", pack), ("device", device.type),
                                ("run.progress", False)])


def bench_protocol(device: torch.device, t: Table, quick: bool, seeds: int = 10) -> dict[str, float]:
    """ms per member-iteration of the protocol's GAN and PacGAN4, alone (S = 1) and stacked (S = seeds),
    each with its matmuls alone; the stack against `seeds` runs one after another."""
    from mixgan.trainers.gan import GanTrainer

    out: dict[str, float] = {}
    if not Path(PRESET).is_file():
        t.add("PacGAN protocol rows", "skipped", f"{PRESET} not found: run from the repository root")
        return out
    for pack in (1, 4):
        name = "GAN" if pack == 1 else f"PacGAN{pack}"
        cfgs = [protocol_config(device, s, pack) for s in range(seeds)]
        alone = [GanTrainer(c, device) for c in cfgs]
        stack = GanTrainer(cfgs, device)
        for tr in (*alone, stack):
            for _ in range(2):
                tr.advance()
        fns = {"alone": alone[0].advance, "stack": stack.advance,
               "sequential": lambda alone=alone: [tr.advance() for tr in alone]}
        for key, tr in (("alone", alone[0]), ("stack", stack)):
            fns[f"{key}:mm"] = matmuls_alone(tr.train_step)
        sec = timed(fns, device, calls=2 if quick else 5, repeats=3)
        for key, S in (("alone", 1), ("stack", seeds)):
            ms, mm = sec[key] * 1e3 / S, sec[f"{key}:mm"] * 1e3 / S
            t.add(f"PacGAN protocol iteration, {name}, {'alone' if S == 1 else f'{S} seeds stacked'}",
                  f"simultaneous D+G step, 100 {'points' if pack == 1 else 'packs'}, G 4×400 BN, "
                  f"D 3×200×5 maxout", f"{ms:.1f} ms per member-iteration; its matmuls alone {mm:.1f} ms",
                  f"{mm / ms:.2f} of the time is matmul", "≥ 0.7")
            out[f"{name}:{key}"] = sec[key] / S
        t.add(f"PacGAN protocol, {name}: {seeds} seeds stacked vs {seeds} runs one after another",
              "as above", f"{sec['stack'] * 1e3 / seeds:.1f} vs {sec['sequential'] * 1e3 / seeds:.1f} ms "
              "per member-iteration", f"{sec['sequential'] / sec['stack']:.2f}× throughput")
    return out
