"""Will a run fit in memory? An estimate of parameter and activation bytes against what the device
has free, checked before the trainer allocates anything or a run dir exists (issue 15)."""

from __future__ import annotations

import os
from typing import Any

import torch

from mixgan.errors import ConfigError

_F32 = 4  # bytes per float32
_GIB = 2**30


def toy_gan_bytes(cfg: Any, members: int = 1) -> tuple[int, str]:
    """Bytes a toy-GAN stack of `members` needs at least, and the setting that dominates.

    Parameters count 4 times (weights, gradients, Adam's two moments). Training keeps each hidden
    layer's input and ReLU output for backward, for D on real + fake (2 × batch_size rows); the
    no-grad passes (quality metrics on n_samples, the σ(D) picture on a 120² grid) hold two layers.
    """
    m = cfg.model
    h, depth = m.hidden, m.depth
    g = m.latent_dim * h + (depth - 1) * h * h + 2 * h + depth * h + 2  # weights + biases
    d = 2 * h + (depth - 1) * h * h + h + depth * h + 1
    params = 4 * (g + d) * _F32
    train = 2 * (2 * cfg.train.batch_size) * h * depth * _F32
    measure = 2 * max(cfg.metrics.n_samples, 120 * 120) * h * _F32
    parts = {"model.hidden/model.depth": params, "train.batch_size": train, "metrics.n_samples": measure}
    return members * sum(parts.values()), max(parts, key=parts.__getitem__)


def available_bytes(device: torch.device) -> int:
    """Free memory of `device`: the GPU's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # no /proc: all physical memory


def _gib(n: int) -> str:
    return f"{n / _GIB:.3g} GiB" if n < 1e6 * _GIB else f"{n:.2e} bytes"


def check_fits(cfg: Any, device: torch.device, members: int = 1) -> None:
    """A one-line ConfigError when the run needs more memory than `device` has free (toy GAN; the
    other tasks' sizes come from their data sets and are caught when allocation fails)."""
    if getattr(cfg, "task", "gan") != "gan":
        return
    need, what = toy_gan_bytes(cfg, members)
    have = available_bytes(device)
    if need > have:
        raise ConfigError(f"{what}: this run needs about {_gib(need)} (parameters, gradients, Adam "
                          f"state, activations) but {device.type} has {_gib(have)} free; "
                          "accepted: smaller sizes")
