"""Data sets by name: toy 2-D mixtures for GANs (images and tabular data live in sibling modules)."""

from mixgan.data.toy import GaussianMixture, grid25, ring8

# name -> factory(std=, radius=, spacing=) -> GaussianMixture
GAN_DATA = {"ring8": ring8, "grid25": grid25}

__all__ = ["GAN_DATA", "GaussianMixture", "grid25", "ring8"]
