"""Bench rows for the toy stabilizers (issue 32, goal 1: "R1 and the other stabilizers within 1.5× of
their own floor"): the toy-GAN iteration with each stabilizer of the stability benchmark and the mixup
family, each beside its matmul floor (its own GEMMs, double backward included, replayed alone in the
same run) and its cost against the ERM iteration timed in the same interleaving.

The rows are the variants of the two sweep files that compare them (configs/ablation/stabilizers_toy.yaml,
configs/ablation/mixup_family_fig5.yaml), each on the default config (3×128 MLPs, batch 128, 5 D + 1 G
steps): one list of names, the sweeps', never a second one here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mixgan.benchmarks.gan import Table, gan_config, matmuls_alone, timed, width

SWEEPS = ("configs/ablation/stabilizers_toy.yaml", "configs/ablation/mixup_family_fig5.yaml")
TARGET = 1 / 1.5  # within 1.5× of the floor: at least 0.67 of the time is matmul


def stabilizer_variants(root: Path = Path(".")) -> dict[str, list[tuple[str, Any]]]:
    """Variant name → its overrides, from the sweeps above under `root` (first file wins a name both
    have); ERM, §3.7 and the demo pairing are rows of those sweeps too, the references of the others."""
    from mixgan.config.sweep import variant_overrides

    out: dict[str, list[tuple[str, Any]]] = {}
    for sweep in SWEEPS:
        for name, overrides in variant_overrides(root / sweep).items():
            out.setdefault(name, overrides)
    return out


def bench_stabilizers(device: torch.device, t: Table, quick: bool) -> dict[str, float]:
    """ms/it of each stabilizer's toy iteration against its matmuls alone and against ERM's iteration,
    all interleaved in one `timed` call. Returns seconds per call by variant name (and `name:mm`)."""
    from mixgan.trainers.gan import GanTrainer

    missing = [s for s in SWEEPS if not Path(s).is_file()]
    if missing:
        t.add("toy stabilizer rows", "skipped", f"{missing[0]} not found: run from the repository root")
        return {}
    variants = stabilizer_variants()
    variants.setdefault("erm", [])
    trainers = {name: GanTrainer(gan_config(device, ov), device) for name, ov in variants.items()}
    fns: dict[str, Any] = {}
    for name, tr in trainers.items():
        for _ in range(3):
            tr.advance()
        fns[name] = tr.advance
        fns[f"{name}:mm"] = matmuls_alone(tr.train_step)
    sec = timed(fns, device, calls=3 if quick else 8, repeats=3 if quick else 5)
    for name, tr in trainers.items():
        settings = ", ".join(f"{k}={v}" for k, v in variants[name]) or "ERM, no stabilizer"
        ms, mm = sec[name] * 1e3, sec[f"{name}:mm"] * 1e3
        t.add(f"toy GAN iteration, stabilizer sweeps' row {name}",
              f"{settings}; {tr.cfg.train.d_steps} D + 1 G steps, batch {tr.cfg.train.batch_size}, "
              f"{width(tr.cfg)} MLPs",
              f"{ms:.1f} ms/it, {sec[name] / sec['erm']:.2f}× ERM's; its matmuls alone {mm:.1f} ms",
              f"{mm / ms:.2f} of the time is matmul", f"≥ {TARGET:.2f} (within 1.5× of its floor)")
    return sec
