"""Batched on-device augmentation (random crop with zero padding, horizontal flip), normalization,
and seeded label corruption for the memorization experiment (Zhang et al. 2018, Table 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _rand_on(generator: torch.Generator, x: Tensor, *shape: int, high: int | None = None) -> Tensor:
    # Draw on the generator's device (a CPU generator may drive a CUDA batch), then move.
    if high is None:
        return torch.rand(shape, generator=generator, device=generator.device).to(x.device)
    return torch.randint(0, high, shape, generator=generator, device=generator.device).to(x.device)


def random_crop(x: Tensor, generator: torch.Generator, pad: int = 4) -> Tensor:
    """Pad (N,C,H,W) with `pad` zeros on each side and take a random HxW window per image.

    Equivalent to torchvision's RandomCrop(H, padding=pad) applied image by image (the
    mixup-cifar10 recipe, pad 4 for 32x32): content moves by at most `pad` pixels per axis.
    """
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = _rand_on(generator, x, n, high=2 * pad + 1)
    dx = _rand_on(generator, x, n, high=2 * pad + 1)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (N,H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (N,W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices around a slice put their dims first: (N,H,W,C) → back to (N,C,H,W).
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Mirror each image left-right with probability p (torchvision RandomHorizontalFlip)."""
    flip = _rand_on(generator, x, x.shape[0]) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment(x: Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True) -> Tensor:
    """Standard CIFAR augmentation of a batch: random crop with zero padding, then flip.

    Only x is transformed and the batch order never changes, so labels stay aligned.
    """
    out = random_crop(x, generator, pad)
    return random_flip(out, generator) if flip else out


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Per-channel (x - mean) / std of a float (N,C,H,W) batch (torchvision Normalize)."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - m) / s


def corrupt_labels(
    labels: Tensor, fraction: float, num_classes: int, seed: int, exclude_true: bool = False
) -> tuple[Tensor, Tensor]:
    """Replace exactly round(fraction * N) labels, chosen by a seeded permutation.

    Each chosen label is replaced by one drawn uniformly from the num_classes classes, so it
    may equal the true one (Zhang et al. 2017 "random labels"; mixup paper Table 2 replaces
    20/50/80% of the CIFAR-10 labels by random noise). With exclude_true=True it is drawn from
    the other num_classes - 1 classes, so exactly that many labels change.
    Returns (new labels, bool mask of the replaced positions); the input is not modified.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    n = labels.shape[0]
    chosen = torch.randperm(n, generator=gen)[: round(fraction * n)]
    old = labels.cpu()[chosen]
    if exclude_true:
        new = (old + torch.randint(1, num_classes, (chosen.numel(),), generator=gen)) % num_classes
    else:
        new = torch.randint(0, num_classes, (chosen.numel(),), generator=gen)
    out = labels.clone().cpu()
    out[chosen] = new.to(out.dtype)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return out.to(labels.device), mask.to(labels.device)
