"""Mode metrics for toy mixtures (the VEEGAN / PacGAN protocol): modes, high quality, reverse KL."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mode_stats(samples: Tensor, means: Tensor, std: float, hq_sigmas: float = 3.0) -> dict[str, Tensor]:
    """Quality of `samples` (N, 2), or of S members' samples at once (S, N, 2), against a mixture with
    `means` (K, 2) and one `std`.

    A sample is high quality when it lies within hq_sigmas·std of its nearest mean; a mode is
    captured when at least one high-quality sample is nearest to it; the reverse KL is
    KL(q ‖ uniform) with q the histogram of high-quality samples over the K modes (0 when they
    spread evenly, log K when all fall in one mode; log K too when there is no high-quality sample).
    Returns 0-dim tensors, or (S,) tensors for stacked samples (no host sync here).
    """
    if samples.dim() == 2:
        return {k: v[0] for k, v in mode_stats(samples[None], means, std, hq_sigmas).items()}
    k = means.shape[0]
    dist = torch.cdist(samples.float(), means.float()[None].expand(samples.shape[0], -1, -1))  # (S, N, K)
    nearest_d, nearest = dist.min(2)
    hq = nearest_d <= hq_sigmas * std  # NaN samples compare False: never high quality
    counts = torch.zeros(samples.shape[0], k, device=samples.device).scatter_add_(1, nearest, hq.float())
    total = counts.sum(1, keepdim=True)
    q = counts / total.clamp_min(1)
    # Σ q log(q·K), with 0·log 0 = 0
    kl = torch.where(q > 0, q * torch.log(q * k), torch.zeros_like(q)).sum(1)
    kl = torch.where(total[:, 0] > 0, kl, torch.full_like(kl, math.log(k)))
    return {
        "quality/modes": (counts > 0).sum(1).float(),
        "quality/high_quality": hq.float().mean(1),
        "quality/reverse_kl": kl,
    }
