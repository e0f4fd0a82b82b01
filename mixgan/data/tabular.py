"""Tabular data sets (sklearn's iris, wine, breast_cancer) and 2-D two-class toys (Figure 1b).

All return a seeded stratified Split, standardized with the training part's statistics only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mixgan.data.images import Split, train_test_split
from mixgan.errors import DataError

TOY_SIZE = 1000  # points generated for the 2-D toys by load_tabular


def two_moons(n: int, seed: int, noise: float = 0.1) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles (as sklearn's make_moons), n points, Gaussian noise.

    Class 0: the upper moon (cos t, sin t); class 1: the lower one (1 - cos t, 0.5 - sin t),
    t ~ U[0, π]. Labels alternate 0,1,0,1,... so both classes have n/2 points (±1).
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    t = torch.rand(n, generator=gen) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower)
    return x + noise * torch.randn(n, 2, generator=gen), y.long()


def two_blobs(n: int, seed: int, distance: float = 2.0, std: float = 1.0) -> tuple[Tensor, Tensor]:
    """Two isotropic Gaussians with centres (±distance/2, 0): overlapping classes for Figure 1b.

    Labels alternate 0,1,0,1,...; class 0 is centred at (-distance/2, 0).
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    centre = torch.stack([(y.float() - 0.5) * distance, torch.zeros(n)], dim=1)
    return centre + std * torch.randn(n, 2, generator=gen), y.long()


def _sklearn(loader_name: str) -> Callable[[int], tuple[Tensor, Tensor]]:
    def load(seed: int) -> tuple[Tensor, Tensor]:
        # The seed is unused: these data sets are fixed; only the split is random.
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)()
        x = torch.as_tensor(bunch.data, dtype=torch.float32)
        return x, torch.as_tensor(bunch.target, dtype=torch.int64)

    return load


# name → function(seed) returning (features float32 (N,D), labels int64 (N,))
TABULAR_LOADERS: dict[str, Callable[[int], tuple[Tensor, Tensor]]] = {
    "iris": _sklearn("load_iris"),
    "wine": _sklearn("load_wine"),
    "breast_cancer": _sklearn("load_breast_cancer"),
    "moons": lambda seed: two_moons(TOY_SIZE, seed),
    "blobs": lambda seed: two_blobs(TOY_SIZE, seed),
}


def standardize(split: Split, eps: float = 1e-8) -> Split:
    """z-score every feature with the mean and std of x_train only (no test leakage).

    A constant training feature (std < eps) is only centred.
    """
    mean = split.x_train.mean(dim=0, keepdim=True)
    std = split.x_train.std(dim=0, keepdim=True)
    std = torch.where(std < eps, torch.ones_like(std), std)
    return Split(
        (split.x_train - mean) / std, split.y_train, (split.x_test - mean) / std, split.y_test
    )


def load_tabular(
    name: str, seed: int = 0, test_fraction: float = 0.2, standardized: bool = True
) -> Split:
    """Load a tabular or 2-D toy data set, seeded stratified split, train-statistics z-scoring.

    The seed drives both the toy generation and the split. Unknown names raise DataError.
    """
    if name not in TABULAR_LOADERS:
        raise DataError(
            f"unknown tabular data set {name!r}: expected one of {', '.join(TABULAR_LOADERS)}"
        )
    x, y = TABULAR_LOADERS[name](seed)
    split = train_test_split(x, y, test_fraction, seed)
    return standardize(split) if standardized else split
