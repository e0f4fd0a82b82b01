"""Data sets by name: toy 2-D mixtures for GANs (images and tabular data live in sibling modules)."""

from mixgan.data.toy import GaussianMixture, grid25, ring8

# name -> factory(std=, radius=, spacing=) -> GaussianMixture
GAN_DATA = {"ring8": ring8, "grid25": grid25}
# name -> the data keys its factory reads (the others are ignored: a grid has no radius); for HParams
GAN_DATA_READS = {"ring8": ("std", "radius"), "grid25": ("std", "spacing")}

__all__ = ["GAN_DATA", "GAN_DATA_READS", "GaussianMixture", "grid25", "ring8"]
