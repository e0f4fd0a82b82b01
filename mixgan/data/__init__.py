"""Data sets by name: toy 2-D mixtures for GANs (images and tabular data live in sibling modules).

One registry: name -> ToyDataSet (its factory and the data keys it reads, for HParams and compare).
Other packages add toy data sets through the entry-point group "mixgan.toy_data" (a ToyDataSet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixgan._registry import Registry
from mixgan.data.toy import GaussianMixture, grid25, ring8


@dataclass(frozen=True)
class ToyDataSet:
    """A toy data set: `make(std=, radius=, spacing=)` -> GaussianMixture (or anything with
    `sample(n, rand)`, `means`, `std`, `num_modes`, `.to(device)`), and the data keys it reads
    (the others are ignored: a grid has no radius)."""

    make: Callable[..., Any]
    reads: tuple[str, ...]

    def __call__(self, **keys: Any) -> Any:
        return self.make(**keys)


GAN_DATA = Registry("toy data set", "mixgan.toy_data")
GAN_DATA.register("ring8", ToyDataSet(ring8, ("std", "radius")))
GAN_DATA.register("grid25", ToyDataSet(grid25, ("std", "spacing")))
GAN_DATA.seal()

__all__ = ["GAN_DATA", "GaussianMixture", "ToyDataSet", "grid25", "ring8"]
