"""Issue 33, item 4: `GANLoss.metrics()` shows every active stabilizer, the engine's penalties and the
instance noise included (not only plugins), each checked against the term it adds to D's loss."""

import pytest
import torch
from torch import nn

import mixgan


def D():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))


def batches():
    g = torch.Generator().manual_seed(1)
    return torch.randn(32, 2, generator=g), torch.randn(32, 2, generator=g)


def added(stabilizers, seed=2):
    """The term the stabilizers add to ERM's D loss, and metrics() after that d_loss."""
    d, (real, fake) = D(), batches()
    loss = mixgan.GANLoss(stabilizers=stabilizers)
    with_term = loss.d_loss(d, real, fake, torch.Generator().manual_seed(seed))
    plain = mixgan.GANLoss().d_loss(d, real, fake, torch.Generator().manual_seed(seed))
    return float((with_term - plain).detach()), loss.metrics()


def test_r1_is_its_formula_and_each_penalty_is_its_term_over_its_weight():
    d, (real, _) = D(), batches()
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x)
    term, metrics = added([mixgan.R1(10.0)])
    assert metrics["stability/r1"] == pytest.approx(0.5 * grad.pow(2).sum(1).mean().item(), rel=1e-5)
    assert term == pytest.approx(10.0 * metrics["stability/r1"], rel=1e-5)
    for spec, key, weight in ((mixgan.R2(2.0), "r2", 2.0), (mixgan.WGANGP(3.0), "gp", 3.0),
                              (mixgan.DRAGAN(0.5), "dragan", 0.5)):
        term, metrics = added([spec])
        assert set(metrics) == {f"stability/{key}"} and metrics[f"stability/{key}"] > 0
        assert term == pytest.approx(weight * metrics[f"stability/{key}"], rel=1e-5, abs=1e-6)  # float32 sums
    term, metrics = added([mixgan.R1(1.0), mixgan.R2(1.0)])  # both at once: both shown
    assert term == pytest.approx(metrics["stability/r1"] + metrics["stability/r2"], rel=1e-5)


def test_instance_noise_shows_its_std_as_annealed_and_plugins_keep_theirs():
    loss = mixgan.GANLoss(stabilizers=[mixgan.InstanceNoise(std=0.2), mixgan.LeCam(weight=0.1)])
    real, fake = batches()
    loss.d_loss(D(), real, fake)
    metrics = loss.metrics()
    assert metrics["stability/noise_std"] == pytest.approx(0.2)
    assert "stability/lecam_anchor_real" in metrics
    loss.at_step(50, 100)  # linear by default: half the std at half the run
    assert loss.metrics()["stability/noise_std"] == pytest.approx(0.1)
    assert mixgan.GANLoss().metrics() == {}  # nothing on, nothing shown
