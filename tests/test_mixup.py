"""The pure mixup core: λ laws, mix, partners; λ = 1 is ERM bit for bit."""

import math

import pytest
import torch

from mixgan.mixup import mix, mix_batch, partner_index, sample_lambda


def test_lambda_one_reproduces_erm_exactly():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 3, 8, 8, generator=g), torch.randn(64, 3, 8, 8, generator=g)
    assert torch.equal(mix(a, b, torch.ones(64)), a)
    assert torch.equal(mix(a, b, 1.0), a)
    assert torch.equal(mix(a, b, torch.zeros(64)), b)


def test_mix_broadcasts_per_sample_lambda():
    a, b = torch.ones(4, 2, 3), torch.zeros(4, 2, 3)
    lam = torch.tensor([0.0, 0.25, 0.5, 1.0])
    out = mix(a, b, lam)
    assert torch.allclose(out, lam.view(4, 1, 1).expand(4, 2, 3))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_beta_lambda_matches_beta_moments(alpha):
    g = torch.Generator().manual_seed(1)
    lam = sample_lambda(200_000, alpha, "beta", generator=g)
    assert lam.min() >= 0 and lam.max() <= 1
    # Beta(α, α): mean 1/2, variance 1 / (4(2α + 1))
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 1 / (4 * (2 * alpha + 1))) < 0.005


def test_uniform_lambda_range_and_mean():
    g = torch.Generator().manual_seed(2)
    lam = sample_lambda(100_000, 0.2, "uniform", generator=g)
    assert lam.min() >= 0 and lam.max() <= 0.2
    assert abs(lam.mean().item() - 0.1) < 0.002


def test_per_batch_lambda_is_one_value_and_seeded():
    lam = sample_lambda(16, 1.0, "beta", per_sample=False, generator=torch.Generator().manual_seed(3))
    assert lam.shape == (16,) and torch.all(lam == lam[0])
    again = sample_lambda(16, 1.0, "beta", per_sample=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(lam, again)


def test_small_alpha_never_nan():
    lam = sample_lambda(100_000, 0.01, "beta", generator=torch.Generator().manual_seed(4))
    assert torch.isfinite(lam).all()


def test_bad_alpha_and_law():
    with pytest.raises(ValueError):
        sample_lambda(4, 0.0)
    with pytest.raises(ValueError):
        sample_lambda(4, 1.0, "gauss")


def test_partner_index_is_a_permutation():
    idx = partner_index(100, torch.Generator().manual_seed(5))
    assert torch.equal(idx.sort().values, torch.arange(100))


def test_mix_batch_keeps_pairs_consistent():
    g = torch.Generator().manual_seed(6)
    x = torch.arange(10, dtype=torch.float32).view(10, 1)
    y = torch.arange(10)
    xm, ya, yb, lam = mix_batch(x, y, 1.0, generator=g)
    # each mixed value is λ·y_a + (1−λ)·y_b, since x encodes the label
    assert torch.allclose(xm.squeeze(1), lam * ya + (1 - lam) * yb)
    assert not math.isnan(lam[0].item())
