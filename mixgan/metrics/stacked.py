"""Mode coverage on (Stacked) digits, the VEEGAN / PacGAN protocol: classify every channel with a digit
classifier, count the distinct digit combinations (1,000 for 3 channels) and the reverse KL to uniform.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mixgan.metrics.digits_net import classify_channels


def digit_mode_stats(digits: Tensor) -> dict[str, Tensor]:
    """Modes and reverse KL of samples whose channels were read as `digits` (N, C), ints in 0..9.

    A sample's mode is its C-digit number (100·d0 + 10·d1 + d2 for Stacked MNIST, K = 10^C modes);
    `modes` counts the modes hit at least once; `reverse_kl` = KL(q ‖ uniform) = Σ q·log(q·K), with
    q the histogram of the samples over the K modes (0 when spread evenly, log K when all in one),
    as in PacGAN (Lin et al. 2018, Table 3) and VEEGAN (Srivastava et al. 2017, Table 2).
    """
    n, c = digits.shape
    k = 10**c
    place = 10 ** torch.arange(c - 1, -1, -1, device=digits.device)
    counts = torch.bincount((digits.long() * place).sum(1), minlength=k).double()
    q = counts / max(n, 1)
    kl = torch.where(q > 0, q * torch.log(q * k), torch.zeros_like(q)).sum()  # 0·log 0 = 0
    return {"modes": (counts > 0).sum().float(), "reverse_kl": kl.float()}


def image_mode_stats(classifier: torch.nn.Module, images: Tensor) -> dict[str, Tensor]:
    """`digit_mode_stats` of uint8 (N,C,H,W) images, every channel read by the digit classifier."""
    return digit_mode_stats(classify_channels(classifier, images))
