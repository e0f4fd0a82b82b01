"""Mixup and CutMix as consistency augmentations (Zhao et al. 2020, "Image Augmentations for GAN
Training", which tries them as T inside balanced consistency regularization, bCR: Zhao et al. 2021,
"Improved Consistency Regularization for GANs", Algorithm 1):

    λ_real·E‖D(x) − D(T(x))‖² + λ_fake·E‖D(G(z)) − D(T(G(z)))‖²,   both outputs keep their gradients,

T a mix within one batch: T(x)_i = λ_i·x_i + (1 − λ_i)·x_π(i) (mixup, λ ~ Beta(α, α)) or
M_i⊙x_i + (1 − M_i)⊙x_π(i) (CutMix, images only), π a random permutation of the batch, so real points mix
with real ones and generated with generated ones. Weights per source as mixgan's bCR (`stabilizers.bcr`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# The names `mixgan` exports, imported from where they live (see objectives/lecam.py).
from mixgan.config.core import check as config_check
from mixgan.mixup import mix, sample_lambda_members
from mixgan.objectives.gan import take
from mixgan.objectives.mixing import box_masks, box_mix, images_only
from mixgan.objectives.plugins import Stabilizer

MIXES = ("mixup", "cutmix")


@dataclass
class MixBCRSettings:
    """stabilizers.mix_bcr: λ_real and λ_fake (0: that source off; bCR's paper: 10), the mix T, and α."""

    real: float = 0.0
    fake: float = 0.0
    mix: str = "mixup"
    alpha: float = 1.0  # mixup's λ ~ Beta(α, α) (CutMix draws its box from Beta(1, 1), as Yun et al.)


class MixBCR(Stabilizer):
    Settings = MixBCRSettings
    member_keys = ("real", "fake", "alpha")
    metric_names = ("stability/mix_bcr_real", "stability/mix_bcr_fake", "stability/mix_bcr_lambda")

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        first = self.settings[0]
        self.mix, self.alpha = first.mix, self.member_tensor("alpha")
        # (source index, weight (S,)): a source is on when its weight is (shared: it changes the draws)
        self.sources = [(i, self.member_tensor(k)) for i, k in enumerate(("real", "fake"))
                        if getattr(first, k) > 0]
        S = len(self.settings)
        self.last = torch.zeros(S, 2, device=self.device)  # the unweighted terms, real and fake
        self.lam = torch.zeros(S, device=self.device)

    @classmethod
    def on(cls, settings: MixBCRSettings) -> bool:
        return settings.real > 0 or settings.fake > 0

    @classmethod
    def check(cls, settings: MixBCRSettings, key: str) -> None:
        for k in ("real", "fake"):
            config_check(getattr(settings, k) >= 0, f"{key}.{k}", "a number >= 0", getattr(settings, k))
        config_check(settings.mix in MIXES, f"{key}.mix", ", ".join(MIXES), settings.mix)
        config_check(settings.alpha > 0, f"{key}.alpha", "a number > 0", settings.alpha)

    @classmethod
    def refuses(cls, settings: MixBCRSettings, key: str, toy: bool) -> str:
        return "mix=cutmix: a box is meaningless on 2-D points; mix=mixup is" if toy and \
            settings.mix == "cutmix" else ""

    def transform(self, x: Tensor, rand) -> tuple[Tensor, Tensor]:
        """T(x) within the batch x (S, n, ...), and its λ (S, n)."""
        n = x.shape[1]
        partner = take(x, rand.permutation(n))  # x_π(i): same source, another point
        if self.mix == "mixup":
            lam = sample_lambda_members(rand, n, self.alpha, "beta")
            return mix(x, partner, lam), lam  # λx_i + (1 − λ)x_π(i)
        images_only(x, "stabilizers.mix_bcr")
        mask, lam = box_masks(rand, n, *x.shape[-2:])
        return box_mix(x, partner, mask), lam  # M⊙x_i + (1 − M)⊙x_π(i)

    reads_outputs = True  # D(x) and D(G(z)) of ERM's loss, where it ran: then D runs on T(·) alone

    def d_term(self, D, real: Tensor, fake: Tensor, rand, outputs=None) -> Tensor:
        loss, lams = real.new_zeros(real.shape[0]), []
        for i, weight in self.sources:
            x = (real, fake)[i]
            mixed, lam = self.transform(x, rand)
            if outputs is None:  # one forward over [x, T(x)]
                d, d_t = D(torch.cat([x, mixed], 1)).split(x.shape[1], dim=1)
            else:  # D(x) from the GAN loss's forward (reused, as bCR code does), D(T(x)) alone
                d, d_t = outputs[i], D(mixed)
            term = (d - d_t).flatten(2).pow(2).sum(-1).mean(1)  # E‖D(x) − D(T(x))‖²
            loss = loss + weight * term
            with torch.no_grad():
                self.last[:, i].copy_(term)
            lams.append(lam.mean(1))
        with torch.no_grad():
            self.lam.copy_(torch.stack(lams).mean(0))
        return loss

    def state(self) -> dict[str, Tensor]:
        return {"last": self.last, "lam": self.lam}

    def metrics(self) -> dict[str, Tensor]:
        return dict(zip(self.metric_names, (self.last[:, 0], self.last[:, 1], self.lam)))
