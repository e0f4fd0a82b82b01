"""LeCam regularization (Tseng et al., "Regularizing Generative Adversarial Networks under Limited
Data", CVPR 2021, Eq. 3; google/lecam-gan), written as a plugin through mixgan's public interface only:

    R_LC = E_x[relu(D(x) − α_F)²] + E_z[relu(α_R − D(g(z)))²],

α_R and α_F exponential moving averages of D's mean output on real and on generated points (the
anchors), added to D's loss with weight λ. The anchors are its state: per member, in checkpoints, and
updated in place (a captured CUDA graph sees them); they are also reported as metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# The names `mixgan` exports (mixgan/__init__.py), imported from where they live: a folder that
# shadows the package (a clone beside the runs) leaves `mixgan` without its lazy exports.
from mixgan.config.core import check as config_check
from mixgan.objectives.plugins import Stabilizer


@dataclass
class LeCamSettings:
    """stabilizers.lecam: λ (0: off) and the anchors' EMA decay (the paper: 0.99)."""

    weight: float = 0.0
    decay: float = 0.99


class LeCam(Stabilizer):
    Settings = LeCamSettings
    member_keys = ("weight",)
    metric_names = ("stability/lecam", "stability/lecam_anchor_real", "stability/lecam_anchor_fake")

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        self.weight, self.decay = self.member_tensor("weight"), self.member_tensor("decay")
        S = len(self.settings)
        self.anchors = torch.zeros(S, 2, device=self.device)  # (α_R, α_F) per member
        self.last = torch.zeros(S, device=self.device)  # the last R_LC, for the metrics

    @classmethod
    def check(cls, settings: LeCamSettings, key: str) -> None:
        config_check(settings.weight >= 0, f"{key}.weight", "a number >= 0", settings.weight)
        config_check(0 <= settings.decay < 1, f"{key}.decay", "a number in [0, 1)", settings.decay)

    reads_outputs = True  # D(x) and D(G(z)) of ERM's loss, where it ran (else one forward of its own)

    def d_term(self, D, real: Tensor, fake: Tensor, rand, outputs=None) -> Tensor:
        if outputs is None:  # one forward over [x, G(z)]
            d_real, d_fake = D(torch.cat([real, fake], 1)).split([real.shape[1], fake.shape[1]], dim=1)
        else:
            d_real, d_fake = outputs
        d_real, d_fake = d_real.flatten(1), d_fake.flatten(1)  # (S, n)
        with torch.no_grad():  # α ← decay·α + (1 − decay)·E[D(·)], in place
            # the anchors stay float32 when D's outputs are not (autocast's float16, a float64 D)
            means = torch.stack([d_real.mean(1), d_fake.mean(1)], 1).to(self.anchors.dtype)
            self.anchors.lerp_(means, (1 - self.decay).unsqueeze(1))
        alpha_r, alpha_f = self.anchors[:, :1], self.anchors[:, 1:]
        # R_LC = E relu(D(x) − α_F)² + E relu(α_R − D(g(z)))²   (Tseng et al. 2021, Eq. 3)
        reg = F.relu(d_real - alpha_f).pow(2).mean(1) + F.relu(alpha_r - d_fake).pow(2).mean(1)
        self.last.copy_(reg.detach())
        return self.weight * reg

    def state(self) -> dict[str, Tensor]:
        return {"anchors": self.anchors, "last": self.last}

    def metrics(self) -> dict[str, Tensor]:
        return dict(zip(self.metric_names, (self.last, self.anchors[:, 0], self.anchors[:, 1])))
