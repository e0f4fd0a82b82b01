"""CutMix for D: §3.7's target with a box mask instead of a blend (Zhang et al. 2018 §3.7 with Yun et
al. 2019's CutMix; U-Net GAN trains its D on such mixes too, Schönfeld et al. 2020 §3.2):

    x̃ = M⊙x + (1 − M)⊙G(z),   D(x̃) → λ = the area fraction of M,   term  w·BCE(D(x̃), λ),

M 1 outside a box of side √(1 − λ₀)·size, λ₀ ~ Beta(1, 1) (objectives/mixing.py `box_masks`). The term
is added to the base objective's D loss (a stabilizer adds terms; it cannot replace ERM's loss). On 2-D
toy points a box is meaningless: the toy GAN refuses it in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# The names `mixgan` exports, imported from where they live (see objectives/lecam.py).
from mixgan.config.core import check as config_check
from mixgan.objectives.mixing import box_masks, box_mix, images_only
from mixgan.objectives.plugins import Stabilizer


@dataclass
class CutMixSettings:
    """stabilizers.cutmix: the term's weight w (0: off)."""

    weight: float = 0.0


class CutMixD(Stabilizer):
    Settings = CutMixSettings
    member_keys = ("weight",)
    metric_names = ("stability/cutmix", "stability/cutmix_lambda")
    toy = False  # a box on 2-D points means nothing

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        self.weight = self.member_tensor("weight")
        S = len(self.settings)
        self.last, self.lam = torch.zeros(S, device=self.device), torch.zeros(S, device=self.device)

    @classmethod
    def check(cls, settings: CutMixSettings, key: str) -> None:
        config_check(settings.weight >= 0, f"{key}.weight", "a number >= 0", settings.weight)

    @classmethod
    def refuses(cls, settings: CutMixSettings, key: str, toy: bool) -> str:
        return "a CutMix box is meaningless on 2-D points" if toy else ""

    def d_term(self, D, real: Tensor, fake: Tensor, rand) -> Tensor:
        images_only(real, "stabilizers.cutmix")
        mask, lam = box_masks(rand, real.shape[1], *real.shape[-2:])
        # x̃ = M⊙x + (1 − M)⊙G(z); BCE(D(x̃), λ) = −λ·log σ(D(x̃)) − (1 − λ)·log(1 − σ(D(x̃)))
        out = D(box_mix(real, fake, mask)).reshape(lam.shape)
        term = F.binary_cross_entropy_with_logits(out, lam, reduction="none").mean(1)
        with torch.no_grad():
            self.last.copy_(term)
            self.lam.copy_(lam.mean(1))
        return self.weight * term

    def state(self) -> dict[str, Tensor]:
        return {"last": self.last, "lam": self.lam}

    def metrics(self) -> dict[str, Tensor]:
        return dict(zip(self.metric_names, (self.last, self.lam)))
