"""Toy 2-D Gaussian mixtures for GANs (paper Fig. 5), sampled on the device from a seeded generator."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixgan.streams import MemberStreams


class GaussianMixture:
    """Equal-weight isotropic Gaussians with the given means (K, 2) and one std."""

    def __init__(self, means: Tensor, std: float) -> None:
        self.means = means
        self.std = float(std)

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    def to(self, device: torch.device | str) -> GaussianMixture:
        return GaussianMixture(self.means.to(device), self.std)

    def sample(self, n: int, rand: MemberStreams) -> Tensor:
        """n points per member, (S, n, 2): a uniformly chosen mean plus std·N(0, I), on the device."""
        idx = rand.randint(self.num_modes, n)
        noise = rand.normal(n, 2)
        return self.means[idx] + self.std * noise


def ring_means(k: int = 8, radius: float = 1.0) -> Tensor:
    """k means on a circle, at (sin t, cos t)·radius as in the authors' demo (`means_circle`)."""
    t = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (torch.stack([torch.sin(t), torch.cos(t)], 1) * radius).float()


def grid_means(side: int = 5, spacing: float = 0.5) -> Tensor:
    """side×side means at spacing·{−(side−1)/2 … (side−1)/2}²; spacing 0.5 gives {−1, …, 1}²."""
    ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float()


def ring8(std: float = 0.01, radius: float = 1.0, spacing: float = 0.5) -> GaussianMixture:
    """8 Gaussians on a ring (paper: radius 1, std 0.01; a common variant: radius 2, std 0.02)."""
    return GaussianMixture(ring_means(8, radius), std)


def grid25(std: float = 0.01, radius: float = 1.0, spacing: float = 0.5) -> GaussianMixture:
    """5×5 Gaussians (paper: spacing 0.5, std 0.01; PacGAN/VEEGAN: spacing 2, std 0.05)."""
    return GaussianMixture(grid_means(5, spacing), std)
