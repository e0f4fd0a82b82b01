"""Mixup, the pure core (Zhang et al., ICLR 2018, Eq. 1): x̃ = λ·x_i + (1−λ)·x_j, λ ~ Beta(α, α).

Everything here is a pure function of tensors and an explicit `torch.Generator`, so it runs on the
device with no host round trip, and ERM is the special case λ = 1 (mix(a, b, 1) is a, bit for bit).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mixgan.streams import MemberStreams

LAMBDA_LAWS = ("beta", "uniform")


def beta_from_gammas(x: Tensor, y: Tensor) -> Tensor:
    """Beta(α, α) = X / (X + Y) with X, Y ~ Gamma(α), elementwise.

    Gamma(α) underflows to 0 for small α; both 0 happens with tiny probability: give λ = 1/2 then.
    """
    total = x + y
    return torch.where(total > 0, x / total.clamp_min(torch.finfo(x.dtype).tiny), 0.5)


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
        # The one Beta sampler that takes a generator (torch.distributions uses the global RNG,
        # which would break seeding).
        conc = torch.full((2, m), float(alpha), device=device)
        g = torch._standard_gamma(conc, generator=generator)
        lam = beta_from_gammas(g[0], g[1])
    elif law == "uniform":
        lam = torch.rand(m, device=device, generator=generator) * alpha
    else:
        raise ValueError(f"unknown lambda law {law!r}; accepted: {', '.join(LAMBDA_LAWS)}")
    return lam.expand(n) if not per_sample else lam


def sample_lambda_members(rand: MemberStreams, n: int, alpha: Tensor, law: str = "beta",
                          per_sample: bool = True) -> Tensor:
    """λ of shape (S, n) for a stack of S members, member s's from its own stream and its own α_s.

    The same laws as `sample_lambda`: Beta(α_s, α_s) (paper) or Uniform(0, α_s) (authors' demo).
    """
    m = n if per_sample else 1
    if law == "beta":
        conc = alpha.view(-1, 1, 1).expand(-1, 2, m)
        g = rand.gamma(conc)
        lam = beta_from_gammas(g[:, 0], g[:, 1])
    elif law == "uniform":
        lam = rand.uniform(m) * alpha.view(-1, 1)
    else:
        raise ValueError(f"unknown lambda law {law!r}; accepted: {', '.join(LAMBDA_LAWS)}")
    return lam.expand(-1, n)


def mix(a: Tensor, b: Tensor, lam: Tensor | float) -> Tensor:
    """λ·a + (1−λ)·b (Eq. 1), λ of a's leading shape ((n,) or (S, n)) broadcast over the rest."""
    if isinstance(lam, Tensor) and lam.dim() >= 1:
        lam = lam.view(*lam.shape, *([1] * (a.dim() - lam.dim())))
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
