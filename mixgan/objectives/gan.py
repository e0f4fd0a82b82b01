"""GAN discriminator/generator objectives: ERM and mixup (paper §3.7), chosen by name.

The training loop only calls `d_loss` and `g_loss`; it never asks which objective it runs
(DESIGN.md, habit 2). Discriminators return logits; with σ the logistic function,
BCE(l, t) = −t·log σ(l) − (1−t)·log(1−σ(l)), so BCE(l, 1) = softplus(−l), BCE(l, 0) = softplus(l).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.mixup import mix, partner_index, sample_lambda

G_LOSSES = ("saturating", "non_saturating")


def _g_loss_unmixed(D: nn.Module, fake: Tensor, g_loss: str) -> Tensor:
    """Generator loss on unmixed fakes (ERM, and mixup's non-saturating / demo forms)."""
    d_fake = D(fake)
    if g_loss == "saturating":
        # Minimax: G maximizes D's loss. Its real term BCE(d(x), 1) is constant in G, so
        # −BCE(d(g(z)), 0) = log(1 − σ(d(g(z)))) carries the whole gradient.
        return -F.softplus(d_fake).mean()
    # Non-saturating (Goodfellow et al. 2014): BCE(d(g(z)), 1) = −log σ(d(g(z))).
    return F.softplus(-d_fake).mean()


class ErmGan:
    """The standard GAN: d(x) → 1, d(g(z)) → 0."""

    d_batches = 1  # real and fake batches the loop draws per D step

    def __init__(self, g_loss: str = "saturating") -> None:
        self.g_loss_name = g_loss

    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator) -> Tensor:
        # BCE(d(x), 1) + BCE(d(g(z)), 0) = softplus(−d(x)) + softplus(d(g(z))); one forward
        # pass over both halves (a bigger matmul runs faster than two small ones).
        d_real, d_fake = D(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def g_loss(self, D: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator) -> Tensor:
        return _g_loss_unmixed(D, fake, self.g_loss_name)


class MixupGan:
    """The mixup GAN (§3.7): d(λx + (1−λ)g(z)) → λ, i.e. min_d BCE(d(x̃), λ).

    pairs="real_fake" is the paper's formula: every real point is mixed with a fake one.
    pairs="any" is the authors' public demo (hongyi-zhang/mixup `gan/example_gan.py`): two shuffled
    batches of real+fake points (labels 1/0) are mixed pairwise, so pairs are real–real, fake–fake
    or real–fake, and the labels are mixed alike; G then trains on the unmixed batch.
    """

    def __init__(
        self,
        alpha: float = 0.2,
        lam: str = "beta",
        per_sample: bool = True,
        pairs: str = "real_fake",
        g_loss: str = "saturating",
    ) -> None:
        self.alpha, self.lam, self.per_sample = alpha, lam, per_sample
        self.pairs, self.g_loss_name = pairs, g_loss
        self.d_batches = 2 if pairs == "any" else 1

    def _lam(self, n: int, gen: torch.Generator) -> Tensor:
        return sample_lambda(n, self.alpha, self.lam, self.per_sample, gen)

    def _shuffled(self, real: Tensor, fake: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        """One demo batch: real (label 1) and fake (label 0) points in a random order."""
        x = torch.cat([real, fake])
        y = torch.cat([real.new_ones(real.shape[0]), fake.new_zeros(fake.shape[0])])
        idx = partner_index(x.shape[0], gen)
        return x[idx], y[idx]

    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator) -> Tensor:
        if self.pairs == "any":
            n = real.shape[0] // 2
            x1, y1 = self._shuffled(real[:n], fake[:n], gen)
            x2, y2 = self._shuffled(real[n:], fake[n:], gen)
            lam = self._lam(x1.shape[0], gen)
            # x̃ = λ·x1 + (1−λ)·x2, ỹ = λ·y1 + (1−λ)·y2; loss BCE(d(x̃), ỹ)
            return F.binary_cross_entropy_with_logits(D(mix(x1, x2, lam)).reshape(-1), mix(y1, y2, lam))
        lam = self._lam(real.shape[0], gen)
        # x̃ = λ·x + (1−λ)·g(z); loss BCE(d(x̃), λ)   (§3.7)
        return F.binary_cross_entropy_with_logits(D(mix(real, fake, lam)).reshape(-1), lam)

    def g_loss(self, D: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator) -> Tensor:
        if self.pairs == "any" or self.g_loss_name == "non_saturating":
            return _g_loss_unmixed(D, fake, self.g_loss_name)
        lam = self._lam(real.shape[0], gen)
        # Minimax (§3.7): max_g min_d BCE(d(λx + (1−λ)g(z)), λ), so G minimizes −BCE(d(x̃), λ).
        return -F.binary_cross_entropy_with_logits(D(mix(real, fake, lam)).reshape(-1), lam)


GAN_OBJECTIVES = {"erm": ErmGan, "mixup": MixupGan}


def make_gan_objective(cfg: Any) -> ErmGan | MixupGan:
    """The objective named by the config's `objective` section."""
    if cfg.name == "erm":
        return ErmGan(cfg.g_loss)
    return MixupGan(cfg.alpha, cfg.lam, cfg.per_sample, cfg.pairs, cfg.g_loss)
