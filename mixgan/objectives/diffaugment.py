"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS
2020; mit-han-lab/data-efficient-gans), written as a plugin through mixgan's public interface only.

The same differentiable augmentation T is applied to real and generated images wherever D sees them:
in D's step, D(T(x)) and D(T(G(z))) (before mixup mixes them), and in G's step, D(T(G(z))), so G gets
its gradient through T (§3.2, Fig. 4c). T is a composition of the paper's policy "color,translation,
cutout": brightness + U(−½, ½), saturation ·U(0, 2), contrast ·U(½, 3/2); an integer translation of
up to 1/8 of the side with zero padding; one zeroed square of half the side (cutout). Each member
draws from its own stream, so a member's augmentations are those of its run alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# The names `mixgan` exports (mixgan/__init__.py), imported from where they live: a folder that
# shadows the package (a clone beside the runs) leaves `mixgan` without its lazy exports.
from mixgan.config.core import check as config_check
from mixgan.objectives.plugins import Stabilizer

POLICIES = ("color", "translation", "cutout")


@dataclass
class DiffAugmentSettings:
    """stabilizers.diffaugment: the comma list of augmentations ("": off)."""

    policy: str = ""
    translation: float = 0.125  # largest shift, a fraction of the side (the paper: 1/8)
    cutout: float = 0.5  # side of the cut square, a fraction of the image side (the paper: 1/2)


def _color(x: Tensor, rand) -> Tensor:
    S, n = x.shape[:2]
    u = rand.uniform(n, 3).view(S, n, 3, 1, 1, 1)
    x = x + (u[:, :, 0] - 0.5)  # brightness
    mean = x.mean(2, keepdim=True)
    x = (x - mean) * (u[:, :, 1] * 2) + mean  # saturation
    mean = x.mean((2, 3, 4), keepdim=True)
    return (x - mean) * (u[:, :, 2] + 0.5) + mean  # contrast


def _translation(x: Tensor, rand, ratio: float) -> Tensor:
    S, n, C, H, W = x.shape
    sh, sw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    shift = rand.uniform(n, 2)  # (S, n, 2) → integer shifts in [−s, s]
    dy = (shift[..., 0] * (2 * sh + 1)).long() - sh
    dx = (shift[..., 1] * (2 * sw + 1)).long() - sw
    rows = torch.arange(H, device=x.device).view(1, 1, H, 1) + dy[..., None, None]  # source row
    cols = torch.arange(W, device=x.device).view(1, 1, 1, W) + dx[..., None, None]
    inside = ((rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)).unsqueeze(2)
    index = (rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1)).view(S, n, 1, H * W).expand(-1, -1, C, -1)
    out = x.flatten(3).gather(3, index).view_as(x)
    return out * inside


def _cutout(x: Tensor, rand, ratio: float) -> Tensor:
    S, n, C, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    centre = rand.uniform(n, 2)
    cy = (centre[..., 0] * (H + 1 - ch % 2)).long()
    cx = (centre[..., 1] * (W + 1 - cw % 2)).long()
    rows = torch.arange(H, device=x.device).view(1, 1, H, 1) - (cy - ch // 2)[..., None, None]
    cols = torch.arange(W, device=x.device).view(1, 1, 1, W) - (cx - cw // 2)[..., None, None]
    cut = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)
    return x * (~cut).unsqueeze(2)


class DiffAugment(Stabilizer):
    Settings = DiffAugmentSettings
    toy = False  # it augments images

    def __init__(self, settings, device="cpu") -> None:
        super().__init__(settings, device)
        first = self.settings[0]
        self.policy = [p for p in first.policy.split(",") if p]
        self.translation, self.cutout = first.translation, first.cutout

    @classmethod
    def on(cls, settings: DiffAugmentSettings) -> bool:
        return bool(settings.policy)

    @classmethod
    def check(cls, settings: DiffAugmentSettings, key: str) -> None:
        bad = [p for p in settings.policy.split(",") if p and p not in POLICIES]
        config_check(not bad, f"{key}.policy", f"a comma list of {', '.join(POLICIES)} (or empty: off)",
                     settings.policy)
        config_check(0 <= settings.translation <= 0.5, f"{key}.translation", "a fraction in [0, 0.5]",
                     settings.translation)
        config_check(0 <= settings.cutout <= 1, f"{key}.cutout", "a fraction in [0, 1]", settings.cutout)

    def augment(self, x: Tensor, rand) -> Tensor:
        """T(x) for images (S, n, C, H, W), each member's draws from its own stream."""
        for p in self.policy:
            if p == "color":
                x = _color(x, rand)
            elif p == "translation":
                x = _translation(x, rand, self.translation)
            else:
                x = _cutout(x, rand, self.cutout)
        return x

    def d_inputs(self, real: Tensor, fake: Tensor, rand) -> tuple[Tensor, Tensor]:
        return self.augment(real, rand), self.augment(fake, rand)

    def g_inputs(self, real: Tensor, fake: Tensor, rand) -> tuple[Tensor, Tensor]:
        return self.augment(real, rand), self.augment(fake, rand)
