"""GAN objectives (written over a member axis) against hand-computed values on fixed batches."""

import math

import pytest
import torch

from mixgan.config.gan import GanObjective
from mixgan.objectives.gan import GAN_OBJECTIVES, ErmGan, MixupGan, anneal_factor, make_gan_objective
from mixgan.streams import MemberStreams

# Two members, each with its own affine critic d_s(x) = w_s·x + b_s: simple enough to do BCE by hand.
W = torch.tensor([[1.0, -2.0], [0.5, 1.0]])
B = torch.tensor([0.5, -0.25])
REAL = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 1.0], [-1.0, 0.5]]])  # (S=2, n=2, 2)
FAKE = torch.tensor([[[0.5, 0.5], [-1.0, 0.0]], [[0.0, 0.0], [1.0, -1.0]]])


def D(x):
    """(S, n, 2) → logits (S, n, 1), member s through its own (w_s, b_s)."""
    return ((x * W[:, None, :]).sum(-1) + B[:, None]).unsqueeze(-1)


def logit(s, x):
    return float(W[s] @ torch.as_tensor(x)) + float(B[s])


def bce(logit_, target):
    p = 1 / (1 + math.exp(-logit_))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def sections(name="mixup", **kw):
    doubled = {**kw, "alpha": kw.get("alpha", 0.2) * 2}
    return [GanObjective(name=name, **kw), GanObjective(name=name, **doubled)]


def streams(seed=0):
    return MemberStreams([torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 100)])


def test_erm_d_loss_by_hand_per_member():
    got = ErmGan(sections("erm")).d_loss(D, REAL, FAKE, streams())
    for s in range(2):
        want = (sum(bce(logit(s, r), 1) for r in REAL[s]) + sum(bce(logit(s, f), 0) for f in FAKE[s])) / 2
        assert got[s].item() == pytest.approx(want, abs=1e-6)


def test_erm_g_losses_by_hand():
    sat = ErmGan(sections("erm", g_loss="saturating")).g_loss(D, REAL, FAKE, streams())
    ns = ErmGan(sections("erm", g_loss="non_saturating")).g_loss(D, REAL, FAKE, streams())
    for s in range(2):
        assert sat[s].item() == pytest.approx(-sum(bce(logit(s, f), 0) for f in FAKE[s]) / 2, abs=1e-6)
        assert ns[s].item() == pytest.approx(sum(bce(logit(s, f), 1) for f in FAKE[s]) / 2, abs=1e-6)


def test_mixup_d_loss_by_hand_with_each_members_alpha():
    obj = MixupGan(sections(alpha=1.0, lam="beta", pairs="real_fake"))
    assert obj.alpha.tolist() == [1.0, 2.0]  # α is a member setting
    got = obj.d_loss(D, REAL, FAKE, streams(0))
    lam = obj._lam(streams(0), 2)  # the same streams draw the same λ
    assert lam.shape == (2, 2) and ((lam > 0) & (lam < 1)).all()
    for s in range(2):
        want = sum(bce(logit(s, lam[s, i] * REAL[s, i] + (1 - lam[s, i]) * FAKE[s, i]), lam[s, i].item())
                   for i in range(2)) / 2
        assert got[s].item() == pytest.approx(want, abs=1e-6)


def test_a_member_computes_the_same_loss_alone_and_in_a_stack():
    obj = MixupGan(sections(alpha=0.5, lam="beta", pairs="real_fake"))
    both = obj.d_loss(D, REAL, FAKE, streams(7))
    alone = MixupGan(sections(alpha=0.5, lam="beta", pairs="real_fake")[1:])
    W1, B1 = W[1:], B[1:]

    def D1(x):
        return ((x * W1[:, None, :]).sum(-1) + B1[:, None]).unsqueeze(-1)

    got = alone.d_loss(D1, REAL[1:], FAKE[1:], MemberStreams([torch.Generator().manual_seed(107)]))
    assert got.item() == pytest.approx(both[1].item(), abs=1e-7)


def test_mixup_with_lambda_one_is_the_real_half_of_erm():
    # λ = 1: x̃ = x and target 1, so the loss is ERM's real term BCE(d(x), 1); λ = 0: the fake term.
    obj = MixupGan(sections(alpha=1.0, pairs="real_fake"))
    for value, src, target in ((1.0, REAL, 1), (0.0, FAKE, 0)):
        obj._lam = lambda rand, n, v=value: torch.full((2, n), v)
        got = obj.d_loss(D, REAL, FAKE, streams())
        for s in range(2):
            want = sum(bce(logit(s, x), target) for x in src[s]) / 2
            assert got[s].item() == pytest.approx(want, abs=1e-6)


def test_demo_pairs_mix_labels_alike_by_hand():
    # The demo pairing: each half of the batch is shuffled real+fake (labels 1/0), then the two
    # shuffled batches are mixed pairwise with λ < 1, inputs and labels alike.
    obj = MixupGan(sections(alpha=0.2, lam="uniform", pairs="any"))
    assert obj.d_batches == 2
    real, fake = torch.cat([REAL, REAL + 3], 1), torch.cat([FAKE, FAKE - 3], 1)  # (2, 4, 2)
    got = obj.d_loss(D, real, fake, streams(5))
    rand = streams(5)  # replay the same draws by hand: two permutations, then λ ~ U(0, α_s)
    p1, p2 = rand.permutation(4), rand.permutation(4)
    lam = rand.uniform(4) * torch.tensor([[0.2], [0.4]])
    assert (lam < 0.4).all() and (lam > 0).any()
    for s in range(2):
        x1 = torch.cat([real[s, :2], fake[s, :2]])[p1[s]]
        x2 = torch.cat([real[s, 2:], fake[s, 2:]])[p2[s]]
        y = torch.tensor([1.0, 1.0, 0.0, 0.0])
        target = [(lam[s, i] * y[p1[s]][i] + (1 - lam[s, i]) * y[p2[s]][i]).item() for i in range(4)]
        mixed = [lam[s, i] * x1[i] + (1 - lam[s, i]) * x2[i] for i in range(4)]
        want = sum(bce(logit(s, mixed[i]), target[i]) for i in range(4)) / 4
        assert got[s].item() == pytest.approx(want, abs=1e-6)


def test_minimax_mixup_g_loss_is_minus_d_loss_with_same_lambda():
    obj = MixupGan(sections(alpha=0.5, lam="beta", pairs="real_fake", g_loss="saturating"))
    d = obj.d_loss(D, REAL, FAKE, streams(3))
    g = obj.g_loss(D, REAL, FAKE, streams(3))
    torch.testing.assert_close(g, -d)


def test_no_gradient_reaches_g_through_d_loss_inputs_when_detached():
    w = W.clone().requires_grad_(True)
    fake = FAKE.clone().requires_grad_(True)

    def Dw(x):
        return ((x * w[:, None, :]).sum(-1) + B[:, None]).unsqueeze(-1)

    MixupGan(sections(alpha=1.0)).d_loss(Dw, REAL, fake.detach(), streams()).sum().backward()
    assert fake.grad is None and w.grad is not None


def test_registry_builds_only_its_names_and_shared_settings_must_agree():
    assert set(GAN_OBJECTIVES) == {"erm", "mixup"}
    assert isinstance(make_gan_objective(GanObjective(name="mixup")), MixupGan)
    with pytest.raises(ValueError, match="unknown GAN objective 'wgan'"):
        make_gan_objective(GanObjective(name="wgan"))
    with pytest.raises(ValueError, match="objective.pairs differs"):
        MixupGan([GanObjective(name="mixup", pairs="any"), GanObjective(name="mixup", pairs="real_fake")])


def test_anneal_factor_by_hand():
    assert anneal_factor("none", 0.7) == 1.0
    assert anneal_factor("linear", 0.25) == pytest.approx(0.75)
    assert anneal_factor("cosine", 0.5) == pytest.approx(0.5)
    assert anneal_factor("cosine", 0.0) == 1.0 and anneal_factor("linear", 1.0) == 0.0
    assert anneal_factor("linear", 1.5) == 0.0  # a resumed run past its total stays at ERM


def test_annealed_demo_mixup_scales_each_members_alpha_and_ends_as_erm():
    obj = MixupGan(sections(alpha=0.2, lam="uniform", pairs="any", anneal="linear"))
    obj.at_step(25, 100)
    assert obj.alpha.tolist() == pytest.approx([0.15, 0.3])  # α_s·(1 − t/T), per member
    fixed = MixupGan(sections(alpha=0.2, lam="uniform", pairs="any"))
    fixed.at_step(25, 100)
    assert fixed.alpha.tolist() == pytest.approx([0.2, 0.4])  # anneal: none leaves α alone
    # At α_t = 0, λ = 0: the mixed batch is the second shuffled real+fake batch with its 1/0 labels,
    # i.e. the mean BCE over it, half of ERM's loss (mean over reals + mean over fakes) on that half.
    obj.at_step(100, 100)
    real, fake = torch.cat([REAL, REAL + 3], 1), torch.cat([FAKE, FAKE - 3], 1)
    got = obj.d_loss(D, real, fake, streams(3))
    erm = ErmGan([GanObjective(name="erm")] * 2).d_loss(D, real[:, 2:], fake[:, 2:], streams(3))
    torch.testing.assert_close(got, 0.5 * erm)
