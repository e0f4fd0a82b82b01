"""AdaptiveMix (Liu et al., "AdaptiveMix: Improving GAN Training via Feature Space Shrinkage", CVPR 2023,
Eq. 6–8; WentianZhang-ML/AdaptiveMix `training/networks.py` `adaptive_mix`, `training/loss.py`): with
D = head ∘ features f, pairs within the real batch and within the generated batch are mixed and D's
features of the mix are pulled towards the mix of their features,

    L = −E cos(f(x̃), sg[λf(x_a) + (1 − λ)f(x_b) + ε]),   x̃ = λx_a + (1 − λ)x_b,   ε ~ N(0, σ²), σ = 0.05,

x_b = x_a permuted within its batch, λ ~ Beta(1, 1) (drawn as U(0, 1), the same law): one λ per batch as
the authors' code (np.random.beta once per call), or one per pair (`per_sample`). w·(L_real + L_fake) is
added to D's loss (the paper adds it unweighted: w = 1). Departures from the authors' code: their D's
logits for the GAN loss are head(mix) + head(f(x̃)) in that step, and G's loss gets L on generated images
too; here D's and G's GAN losses are the base objective's, unchanged, and L trains D only.

D must expose `features(x)` and `head(h)`: mixgan's toy Ds (StackedMLP, StackedNet) and DCGAN D do; wrap
your own as `mixgan.SplitD(features=..., head=...)`, else the term refuses D in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# The names `mixgan` exports, imported from where they live (see objectives/lecam.py).
from mixgan.config.core import check as config_check
from mixgan.mixup import mix
from mixgan.objectives.gan import take
from mixgan.objectives.mixing import split_critic
from mixgan.objectives.plugins import Stabilizer


@dataclass
class AdaptiveMixSettings:
    """stabilizers.adaptivemix: the weight w (0: off; the paper: 1.0), ε's std, λ per pair or per batch."""

    weight: float = 0.0
    noise: float = 0.05
    per_sample: bool = False


class AdaptiveMix(Stabilizer):
    Settings = AdaptiveMixSettings
    member_keys = ("weight", "noise")
    metric_names = ("stability/adaptivemix", "stability/adaptivemix_lambda")

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        self.weight, self.noise = self.member_tensor("weight"), self.member_tensor("noise")
        self.per_sample = self.settings[0].per_sample
        S = len(self.settings)
        self.last, self.lam = torch.zeros(S, device=self.device), torch.zeros(S, device=self.device)

    @classmethod
    def check(cls, settings: AdaptiveMixSettings, key: str) -> None:
        config_check(settings.weight >= 0, f"{key}.weight", "a number >= 0", settings.weight)
        config_check(settings.noise >= 0, f"{key}.noise", "a number >= 0 (ε's std)", settings.noise)
        config_check(isinstance(settings.per_sample, bool), f"{key}.per_sample", "true or false",
                     settings.per_sample)

    def shrink(self, features, x: Tensor, rand) -> tuple[Tensor, Tensor]:
        """−E cos(f(x̃), sg[λf(x_a) + (1 − λ)f(x_b) + ε]) of each member (S,) for one batch, and λ (S, n)."""
        S, n = x.shape[:2]
        perm = rand.permutation(n)  # x_b = x_a permuted: pairs within this batch
        lam = rand.uniform(n if self.per_sample else 1).expand(S, n)  # λ ~ Beta(1, 1) = U(0, 1)
        h_mixed = features(mix(x, take(x, perm), lam))  # f(x̃), x̃ = λx_a + (1 − λ)x_b
        with torch.no_grad():  # sg[·]: the target carries no gradient
            h = features(x)  # f(x_a); f(x_b) = f(x_a)[π] (a batch norm's statistics ignore the order)
            eps = rand.normal(n, *h.shape[2:]) * self.noise.view(-1, *([1] * (h.dim() - 1)))
            target = mix(h, take(h, perm), lam) + eps  # λf(x_a) + (1 − λ)f(x_b) + ε
        cos = F.cosine_similarity(h_mixed.flatten(2), target.flatten(2), dim=-1)  # (S, n)
        return -cos.mean(1), lam

    def d_term(self, D, real: Tensor, fake: Tensor, rand) -> Tensor:
        features, _ = split_critic(D, "stabilizers.adaptivemix")
        l_real, lam_real = self.shrink(features, real, rand)
        l_fake, lam_fake = self.shrink(features, fake, rand)
        term = l_real + l_fake
        with torch.no_grad():
            self.last.copy_(term)
            self.lam.copy_((lam_real.mean(1) + lam_fake.mean(1)) / 2)
        return self.weight * term

    def state(self) -> dict[str, Tensor]:
        return {"last": self.last, "lam": self.lam}

    def metrics(self) -> dict[str, Tensor]:
        return dict(zip(self.metric_names, (self.last, self.lam)))
