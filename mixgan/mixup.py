"""Mixup, the pure core (Zhang et al., ICLR 2018, Eq. 1): x̃ = λ·x_i + (1−λ)·x_j, λ ~ Beta(α, α).

Everything here is a pure function of tensors and an explicit `torch.Generator`, so it runs on the
device with no host round trip, and ERM is the special case λ = 1 (mix(a, b, 1) is a, bit for bit).
"""

from __future__ import annotations

import torch
from torch import Tensor

LAMBDA_LAWS = ("beta", "uniform")


def sample_lambda(
    n: int,
    alpha: float,
    law: str = "beta",
    per_sample: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """λ of shape (n,): Beta(α, α) as in the paper, or Uniform(0, α) as in the authors' GAN demo.

    With `per_sample=False` one λ is drawn and repeated n times (the paper's CIFAR recipe).
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if generator is not None:
        device = generator.device
    m = n if per_sample else 1
    if law == "beta":
        # Beta(α, α) = X / (X + Y) with X, Y ~ Gamma(α): the one Beta sampler that takes a
        # generator (torch.distributions uses the global RNG, which would break seeding).
        conc = torch.full((2, m), float(alpha), device=device)
        g = torch._standard_gamma(conc, generator=generator)
        # Gamma(α) underflows to 0 for small α; both 0 happens with tiny probability: give λ = 1/2.
        total = g.sum(0)
        lam = torch.where(total > 0, g[0] / total.clamp_min(torch.finfo(g.dtype).tiny), 0.5)
    elif law == "uniform":
        lam = torch.rand(m, device=device, generator=generator) * alpha
    else:
        raise ValueError(f"unknown lambda law {law!r}; accepted: {', '.join(LAMBDA_LAWS)}")
    return lam.expand(n) if not per_sample else lam


def mix(a: Tensor, b: Tensor, lam: Tensor | float) -> Tensor:
    """λ·a + (1−λ)·b, with λ of shape (n,) broadcast over a's trailing dimensions (Eq. 1)."""
    if isinstance(lam, Tensor) and lam.dim() == 1:
        lam = lam.view(-1, *([1] * (a.dim() - 1)))
    # Written as λa + (1−λ)b, not lerp: at λ = 1 this is a exactly (1·a + 0·b), so ERM is mixup.
    return lam * a + (1 - lam) * b


def partner_index(
    n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
) -> Tensor:
    """Mixing partners by a random permutation of the batch (facebookresearch/mixup-cifar10)."""
    if generator is not None:
        device = generator.device
    return torch.randperm(n, generator=generator, device=device)


def mix_batch(
    x: Tensor,
    y: Tensor,
    alpha: float,
    law: str = "beta",
    per_sample: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mix a batch with a permutation of itself: returns (x̃, y_a, y_b, λ) for λ·ℓ(y_a) + (1−λ)·ℓ(y_b)."""
    lam = sample_lambda(x.shape[0], alpha, law, per_sample, generator, x.device)
    idx = partner_index(x.shape[0], generator, x.device)
    return mix(x, x[idx], lam), y, y[idx], lam
