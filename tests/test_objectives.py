"""GAN objectives against hand-computed values on fixed batches."""

import math

import torch
from torch import nn

from mixgan.objectives.gan import ErmGan, MixupGan


class Affine(nn.Module):
    """d(x) = w·x + b: simple enough to compute BCE by hand."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.0, -2.0]]))
            self.lin.bias.fill_(0.5)

    def forward(self, x):
        return self.lin(x)


def bce(logit, target):
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


REAL = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
FAKE = torch.tensor([[0.5, 0.5], [-1.0, 0.0]])


def logit(x):
    return x[0] - 2 * x[1] + 0.5


def test_erm_d_loss_by_hand():
    D = Affine()
    got = ErmGan().d_loss(D, REAL, FAKE, torch.Generator()).item()
    want = sum(bce(logit(r.tolist()), 1) for r in REAL) / 2 + sum(bce(logit(f.tolist()), 0) for f in FAKE) / 2
    assert abs(got - want) < 1e-6


def test_erm_g_losses_by_hand():
    D = Affine()
    sat = ErmGan("saturating").g_loss(D, REAL, FAKE, torch.Generator()).item()
    ns = ErmGan("non_saturating").g_loss(D, REAL, FAKE, torch.Generator()).item()
    assert abs(sat + sum(bce(logit(f.tolist()), 0) for f in FAKE) / 2) < 1e-6
    assert abs(ns - sum(bce(logit(f.tolist()), 1) for f in FAKE) / 2) < 1e-6


def test_mixup_d_loss_by_hand():
    D = Affine()
    obj = MixupGan(alpha=1.0, lam="beta", pairs="real_fake")
    got = obj.d_loss(D, REAL, FAKE, torch.Generator().manual_seed(0)).item()
    lam = obj._lam(2, torch.Generator().manual_seed(0))
    want = 0.0
    for i in range(2):
        x = (lam[i] * REAL[i] + (1 - lam[i]) * FAKE[i]).tolist()
        want += bce(logit(x), lam[i].item()) / 2
    assert abs(got - want) < 1e-6


def test_mixup_with_lambda_one_is_the_real_half_of_erm():
    # λ = 1: x̃ = x and target 1, so the loss is ERM's real term BCE(d(x), 1).
    D = Affine()
    obj = MixupGan(alpha=1.0)
    obj._lam = lambda n, gen: torch.ones(n)
    want = sum(bce(logit(r.tolist()), 1) for r in REAL) / 2
    assert abs(obj.d_loss(D, REAL, FAKE, torch.Generator()).item() - want) < 1e-6
    obj._lam = lambda n, gen: torch.zeros(n)
    want = sum(bce(logit(f.tolist()), 0) for f in FAKE) / 2
    assert abs(obj.d_loss(D, REAL, FAKE, torch.Generator()).item() - want) < 1e-6


def test_demo_pairs_mix_labels_alike():
    # With λ = 1 the demo objective is BCE on one shuffled real+fake batch, i.e. the mean of ERM's terms.
    D = Affine()
    obj = MixupGan(alpha=0.2, lam="uniform", pairs="any")
    assert obj.d_batches == 2
    obj._lam = lambda n, gen: torch.ones(n)
    real = torch.cat([REAL, REAL + 3])
    fake = torch.cat([FAKE, FAKE - 3])
    got = obj.d_loss(D, real, fake, torch.Generator().manual_seed(0)).item()
    want = (sum(bce(logit(r.tolist()), 1) for r in REAL) + sum(bce(logit(f.tolist()), 0) for f in FAKE)) / 4
    assert abs(got - want) < 1e-6


def test_minimax_mixup_g_loss_is_minus_d_loss_with_same_lambda():
    D = Affine()
    obj = MixupGan(alpha=0.5, lam="beta", pairs="real_fake", g_loss="saturating")
    d = obj.d_loss(D, REAL, FAKE, torch.Generator().manual_seed(3)).item()
    g = obj.g_loss(D, REAL, FAKE, torch.Generator().manual_seed(3)).item()
    assert abs(g + d) < 1e-6


def test_no_gradient_reaches_g_through_d_loss_inputs_when_detached():
    D = Affine()
    fake = FAKE.clone().requires_grad_(True)
    loss = MixupGan(alpha=1.0).d_loss(D, REAL, fake.detach(), torch.Generator().manual_seed(0))
    loss.backward()
    assert fake.grad is None and D.lin.weight.grad is not None
