"""Mix consistency (U-Net GAN, Schönfeld et al., CVPR 2020, Eq. 6; boschresearch/unetgan `train_fns.py`):
D's output on a mix of a real and a generated batch should be the same mix of its outputs,

    w·c(t)·E‖D(mix(x, G(z))) − mix(D(x), D(G(z)))‖²,   the target not detached,

written there per pixel for a U-Net D; for mixgan's scalar D, mix(D(x), D(G(z))) = λD(x) + (1 − λ)D(G(z))
on logits, λ the mix's real share. Images: the mix is a CutMix box, inverted with probability ½
(unetgan `mixup.py`). Toy points, where a box means nothing: the blend λx + (1 − λ)G(z), λ ~ Beta(1, 1)
per point (drawn as U(0, 1), the same law). c(t) is the warm-up min(1, t/warmup) over iterations
(unetgan ramps over epochs, min(1, epoch/20) on CelebA); warmup 0: c = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# The names `mixgan` exports, imported from where they live (see objectives/lecam.py).
from mixgan.config.core import check as config_check
from mixgan.mixup import mix
from mixgan.objectives.mixing import box_masks, box_mix
from mixgan.objectives.plugins import Stabilizer


@dataclass
class MixConsistencySettings:
    """stabilizers.mix_consistency: the weight w (0: off; the paper: 1.0) and the warm-up's iterations."""

    weight: float = 0.0
    warmup: int = 0


class MixConsistency(Stabilizer):
    Settings = MixConsistencySettings
    member_keys = ("weight", "warmup")
    metric_names = ("stability/mix_consistency", "stability/mix_consistency_lambda")

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        self.weight, self.warmup = self.member_tensor("weight"), self.member_tensor("warmup")
        S = len(self.settings)
        self.factor = torch.ones(S, device=self.device)  # c(t): rewritten in place (a CUDA graph reads it)
        self.last, self.lam = torch.zeros(S, device=self.device), torch.zeros(S, device=self.device)
        self.at_step(0, 1)

    @classmethod
    def check(cls, settings: MixConsistencySettings, key: str) -> None:
        config_check(settings.weight >= 0, f"{key}.weight", "a number >= 0", settings.weight)
        config_check(isinstance(settings.warmup, int) and settings.warmup >= 0, f"{key}.warmup",
                     "an integer >= 0 (iterations; 0: no warm-up)", settings.warmup)

    def at_step(self, step: int, total: int) -> None:
        """c(t) = min(1, t/warmup) per member (1 where warmup is 0)."""
        ramp = (step / self.warmup.clamp(min=1)).clamp(max=1)
        self.factor.copy_(torch.where(self.warmup > 0, ramp, torch.ones_like(ramp)))

    reads_outputs = True  # D(x) and D(G(z)) of ERM's loss, where it ran: then D runs on x̃ alone

    def d_term(self, D, real: Tensor, fake: Tensor, rand, outputs=None) -> Tensor:
        n = real.shape[1]
        if real.dim() == 5:  # images: x̃ = M⊙x + (1 − M)⊙G(z), M a CutMix box, inverted with probability ½
            mask, lam = box_masks(rand, n, *real.shape[-2:], invert=True)
            mixed = box_mix(real, fake, mask)
        else:  # points: x̃ = λx + (1 − λ)G(z), λ ~ U(0, 1) = Beta(1, 1)
            lam = rand.uniform(n)
            mixed = mix(real, fake, lam)
        if outputs is None:  # one forward over [x, G(z), x̃]
            d_real, d_fake, d_mixed = D(torch.cat([real, fake, mixed], 1)).split(n, dim=1)
        else:  # as unetgan: D(x), D(G(z)) from the GAN loss's forward, D(x̃) a call of its own
            (d_real, d_fake), d_mixed = outputs, D(mixed)
        target = mix(d_real, d_fake, lam)  # λD(x) + (1 − λ)D(G(z)) on logits, not detached (unetgan)
        term = (d_mixed - target).pow(2).flatten(1).mean(1)  # F.mse_loss per member
        with torch.no_grad():
            self.last.copy_(term)
            self.lam.copy_(lam.mean(1))
        return self.weight * self.factor * term

    def state(self) -> dict[str, Tensor]:
        return {"last": self.last, "lam": self.lam}

    def metrics(self) -> dict[str, Tensor]:
        return dict(zip(self.metric_names, (self.last, self.lam)))
