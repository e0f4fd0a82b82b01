"""Tabular data: sklearn sets and 2-D toys, seeded stratified split, train-only standardization."""

from __future__ import annotations

import pytest
import torch

from mixgan.data.images import Split
from mixgan.data.tabular import load_tabular, standardize, two_blobs, two_moons
from mixgan.errors import DataError


@pytest.mark.parametrize(
    ("name", "n", "d", "k"),
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
        ("moons", 1000, 2, 2),
        ("blobs", 1000, 2, 2),
    ],
)
def test_shapes_types_and_split(name: str, n: int, d: int, k: int) -> None:
    split = load_tabular(name, seed=0, test_fraction=0.25)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert split.x_train.shape[1] == split.x_test.shape[1] == d
    assert split.x_train.shape[0] + split.x_test.shape[0] == n
    assert split.num_classes == k
    # stratified: every class is in the test part in (almost) its overall proportion
    y = torch.cat([split.y_train, split.y_test])
    for c in range(k):
        assert abs(int((split.y_test == c).sum()) - 0.25 * int((y == c).sum())) <= 0.5


def test_standardized_with_train_statistics_only() -> None:
    split = load_tabular("wine", seed=1, test_fraction=0.3)
    assert torch.allclose(split.x_train.mean(0), torch.zeros(13), atol=1e-5)
    assert torch.allclose(split.x_train.std(0), torch.ones(13), atol=1e-4)
    assert not torch.allclose(split.x_test.mean(0), torch.zeros(13), atol=1e-3)
    raw = load_tabular("wine", seed=1, test_fraction=0.3, standardized=False)
    mean, std = raw.x_train.mean(0), raw.x_train.std(0)
    assert torch.allclose(split.x_test, (raw.x_test - mean) / std, atol=1e-5)
    assert torch.equal(split.y_test, raw.y_test)


def test_constant_feature_is_only_centred() -> None:
    x = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    out = standardize(Split(x, torch.zeros(3), x[:1], torch.zeros(1)))
    assert torch.isfinite(out.x_train).all() and (out.x_train[:, 1] == 0).all()


def test_seed_reproducible_and_different() -> None:
    a = load_tabular("iris", seed=0, test_fraction=0.2)
    b = load_tabular("iris", seed=0, test_fraction=0.2)
    c = load_tabular("iris", seed=1, test_fraction=0.2)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_test, c.x_test)


def test_toys_are_seeded_two_class_and_shaped() -> None:
    x, y = two_moons(200, seed=0, noise=0.0)
    assert x.shape == (200, 2) and set(y.tolist()) == {0, 1} and int(y.sum()) == 100
    # noise-free moons lie exactly on their unit circles
    upper = x[y == 0]
    assert torch.allclose(upper.norm(dim=1), torch.ones(100), atol=1e-5)
    lower = x[y == 1] - torch.tensor([1.0, 0.5])
    assert torch.allclose(lower.norm(dim=1), torch.ones(100), atol=1e-5)
    assert torch.equal(two_moons(50, 3)[0], two_moons(50, 3)[0])
    assert not torch.equal(two_moons(50, 3)[0], two_moons(50, 4)[0])
    bx, by = two_blobs(4000, seed=0, distance=4.0)
    assert bx[by == 0, 0].mean() < -1.8 and bx[by == 1, 0].mean() > 1.8


def test_unknown_name_lists_accepted() -> None:
    with pytest.raises(DataError) as err:
        load_tabular("titanic", seed=0, test_fraction=0.2)
    msg = str(err.value)
    assert "\n" not in msg and "titanic" in msg
    for name in ("iris", "wine", "breast_cancer", "moons", "blobs"):
        assert name in msg
