"""Checkpoints as data (nanoGPT style): state_dicts, optimizer states, step, RNG states, config.

Written atomically (temp file + rename) and read with `torch.load(..., weights_only=True)`, so a
checkpoint can never run code, and an interrupted write never leaves a half file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from mixgan.errors import CheckpointError

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """torch.save to a temp file in the same folder, then os.replace (atomic on POSIX)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # Through a Python file: a full disk is OSError(ENOSPC), not the zip writer's RuntimeError.
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def all_finite(state: Any) -> bool:
    """Whether every floating-point tensor in a nested state (weights, optimizer moments, windows) is
    finite, read back in one device sync. Plain numbers are not checked (a best error may start at inf)."""
    tensors: list[torch.Tensor] = []

    def collect(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and value.numel():
                tensors.append(torch.isfinite(value).all())
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)

    collect(state)
    return not tensors or bool(torch.stack([t.to(tensors[0].device) for t in tensors]).all())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint as data; a missing, truncated or foreign file gives a CheckpointError."""
    from mixgan.config.untrusted import load_torch

    path = Path(path)
    state = load_torch(path, "checkpoint", map_location)  # kind, size, zip CRCs, weights_only
    if not isinstance(state, dict) or "step" not in state or "config" not in state:
        raise CheckpointError(f"checkpoint {path} is not a mixgan checkpoint (no step/config)")
    if "trainer" not in state:
        raise CheckpointError(f"checkpoint {path} has no 'trainer' section (weights, optimizers, RNG); "
                              "accepted: a checkpoint mixgan wrote (step, config, wall_time, trainer)")
    step = state["step"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2**63:
        raise CheckpointError(f"checkpoint {path}: step is {step!r}; accepted: an integer >= 0 (a "
                              "checkpoint mixgan wrote)")
    return state


# Sections a loader fills in when a checkpoint lacks them: written by later versions (the GAN's batch
# count), or only where the writer had a GPU (its CUDA RNG states).
OPTIONAL_SECTIONS = frozenset({"batches", "torch_cuda"})


def check_sections(saved: Any, fresh: dict[str, Any], path: str | Path, where: str = "") -> None:
    """Refuse in one line a trainer state that lacks a section the trainer's own state has (a hand-edited
    or truncated checkpoint), naming it: the loaders would raise a bare KeyError, or worse fill it in
    silently (an optimizer without its moments resumes with other numbers). Sections are the keys of
    nested dicts; an empty dict in `fresh` (an optimizer's state before its first step) is not
    compared, nor are extra keys (a state from a GPU machine)."""
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {path}: {where or 'trainer'} is a {type(saved).__name__}, not a "
                              "section; accepted: a checkpoint mixgan wrote")
    for key, value in fresh.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in saved:
            if key in OPTIONAL_SECTIONS:
                continue
            raise CheckpointError(f"checkpoint {path} has no {name!r} section; accepted: a checkpoint "
                                  "mixgan wrote for this config (delete it to train the run again)")
        if isinstance(value, dict) and value:
            check_sections(saved[key], value, path, name)


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every RNG state that affects training: the run's generators, torch's CPU and CUDA RNGs."""
    state: dict[str, Any] = {name: g.get_state() for name, g in generators.items()}
    state["torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generators: dict[str, torch.Generator], state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    for name, g in generators.items():
        g.set_state(state[name].cpu() if hasattr(state[name], "cpu") else state[name])
    torch.set_rng_state(state["torch_cpu"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
