"""Classifier metrics and attacks against hand computations: top-k error, ECE, Figure 2, FGSM."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixgan.metrics.adversarial import attack_errors, fgsm, ifgsm, input_gradient, make_attack
from mixgan.metrics.classify import between_examples, calibration_bins, ece, pca_2d, topk_error


def test_topk_error_by_hand():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 3.0, 2.0], [1.0, 0.0, 2.0, 3.0]])
    y = torch.tensor([0, 3, 1])
    assert float(topk_error(logits, y, 1)) == pytest.approx(2 / 3)  # only row 0 is right
    assert float(topk_error(logits, y, 2)) == pytest.approx(1 / 3)  # row 1's label is 2nd
    assert float(topk_error(logits, y, 10)) == 0.0  # k larger than the classes: all correct


def test_ece_by_hand_and_additive_bins():
    # confidences 0.9 (right), 0.9 (wrong), 0.6 (right): bins (0.8,0.9] and (0.53,0.6] of 15
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    logits = probs.log()
    y = torch.tensor([0, 1, 1])
    expected = (2 / 3) * abs(0.5 - 0.9) + (1 / 3) * abs(1.0 - 0.6)
    assert float(ece(logits, y, 15)) == pytest.approx(expected, abs=1e-6)
    stats = calibration_bins(logits[:2], y[:2]) + calibration_bins(logits[2:], y[2:])
    assert torch.allclose(stats, calibration_bins(logits, y))
    # a perfectly calibrated, perfectly confident model has ECE 0
    assert float(ece(torch.tensor([[50.0, 0.0], [0.0, 50.0]]), torch.tensor([0, 1]))) < 1e-6


def test_fgsm_moves_by_eps_in_the_sign_of_the_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.rand(10, 6) * 0.5 + 0.25  # away from the [0, 1] borders
    y = torch.randint(0, 3, (10,))
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model(xr), y, reduction="sum").backward()
    adv = fgsm(model, x, y, 0.1)
    assert torch.allclose(adv - x, 0.1 * xr.grad.sign())
    assert torch.allclose((adv - x).abs(), torch.full_like(x, 0.1))
    assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y)
    # clipping keeps images valid
    assert fgsm(model, torch.ones(2, 6), y[:2], 0.5).max() <= 1.0


def test_ifgsm_stays_in_the_eps_ball_and_beats_fgsm():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    adv = ifgsm(model, x, y, 0.05, steps=5)
    assert (adv - x).abs().max() <= 0.05 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    loss = lambda z: F.cross_entropy(model(z), y)  # noqa: E731
    assert loss(adv) >= loss(fgsm(model, x, y, 0.05)) - 1e-4 > loss(x)
    assert torch.equal(input_gradient(model, x, y), input_gradient(model, x, y))


def test_attack_errors_rise_with_eps():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 6))
    x = torch.rand(200, 2)
    y = model(x).argmax(1)  # the model is right on every clean point
    assert attack_errors(model, x, y, None) == (0.0, 0.0)
    top1, top5 = attack_errors(model, x, y, make_attack("fgsm", 0.3), batch_size=64)
    assert top1 > 0 and top5 <= top1


def test_between_examples_endpoints():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    xa, xb = torch.randn(30, 4), torch.randn(30, 4)
    ya, yb = model(xa).argmax(1), model(xb).argmax(1)
    miss, grad = between_examples(model, xa, ya, xb, yb, torch.tensor([0.0, 0.5, 1.0]))
    assert miss[0] == 0 and miss[2] == 0  # at the ends the prediction is y_b or y_a
    g1 = input_gradient(model, xa, ya).norm(dim=1).mean()
    assert torch.allclose(grad[2], g1) and grad.shape == (3,)


def test_pca_2d_finds_the_main_axis():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 1, generator=g) * 5
    x = torch.cat([z, 0.1 * torch.randn(500, 2, generator=g)], 1)
    mean, v = pca_2d(x)
    assert v.shape == (3, 2) and abs(abs(float(v[0, 0])) - 1) < 1e-3
