"""The mixup family for D (docs/mixup_family.md): each plugin equals a plain re-implementation of its
published formula, written here from the papers and the authors' code, on identical draws (value and
gradient w.r.t. D's weights); a member of a stack computes what it computes alone; D's feature/head
split; bad settings and impossible uses are refused in one line."""

import math

import pytest
import torch
import torch.nn.functional as F

import mixgan
from mixgan.config.gan import check_stabilizers, stabilizers_schema
from mixgan.models.stacked_net import stack_nets
from mixgan.models.toy_layers import maxout_mlp, mlp
from mixgan.objectives.adaptivemix import AdaptiveMix, AdaptiveMixSettings
from mixgan.objectives.cutmix_d import CutMixD, CutMixSettings
from mixgan.objectives.gan import single_member
from mixgan.objectives.mix_bcr import MixBCR, MixBCRSettings
from mixgan.objectives.mix_consistency import MixConsistency, MixConsistencySettings
from mixgan.streams import MemberStreams
from mixgan.train import main

from runhelp import TINY, rows, train

# -- plain re-implementations (one member, batches (n, ...), torch.Generator draws) ---------------------


def rand_bbox(u, H, W):
    """Yun et al.'s rand_bbox (clovaai/CutMix-PyTorch) on given uniforms (λ₀, row, column) of one image:
    Python floats and ints, the box zeroed in a map of ones, λ recomputed from the clipped area."""
    lam0, ry, rx = (float(v) for v in u)
    cut = math.sqrt(1.0 - lam0)
    h, w = int(H * cut), int(W * cut)
    cy, cx = int(ry * H), int(rx * W)  # np.random.randint(H), from the same uniform
    y1, y2 = min(max(cy - h // 2, 0), H), min(max(cy + h // 2, 0), H)
    x1, x2 = min(max(cx - w // 2, 0), W), min(max(cx + w // 2, 0), W)
    m = torch.ones(H, W)
    m[y1:y2, x1:x2] = 0
    return m, 1 - (y2 - y1) * (x2 - x1) / (H * W)


def ref_masks(g, n, H, W, invert=False):
    """n CutMix maps (n, 1, H, W) and λ (n,); `invert`: unetgan's mixup.CutMix, M ← 1 − M w.p. ½."""
    u = torch.rand(n, 3, generator=g)
    maps, lams = zip(*(rand_bbox(u[i], H, W) for i in range(n)))
    m, lam = torch.stack(maps), torch.tensor(lams, dtype=torch.float32)
    if invert:
        flip = torch.rand(n, generator=g) < 0.5
        m[flip], lam[flip] = 1 - m[flip], 1 - lam[flip]
    return m[:, None], lam


def image_d(seed=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 4 * 4, 1))


def toy_d(seed=1):
    torch.manual_seed(seed)
    return mlp(2, 1, 16, 2)


def grads(loss, D):
    """∂loss/∂θ for D's parameters; zeros for those it does not read (AdaptiveMix reads no head)."""
    params = list(D.parameters())
    return [torch.zeros_like(p) if g is None else g
            for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True))]


def plugin_term(cls, settings, D, real, fake, seed):
    """The plugin's d_term for one member (S = 1), D seen as the engine sees a plain network."""
    rand = MemberStreams([torch.Generator().manual_seed(seed)])
    return cls([settings]).d_term(single_member(D), real[None], fake[None], rand)[0]


def assert_same(got, want, D, exact=True):
    g_got, g_want = grads(got, D), grads(want, D)
    if exact:
        assert torch.equal(got, want) and all(torch.equal(a, b) for a, b in zip(g_got, g_want))
    else:
        assert torch.allclose(got, want, rtol=1e-6, atol=1e-7)
        assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(g_got, g_want))


def images(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g) * 2 - 1, torch.rand(n, 3, 8, 8, generator=g) * 2 - 1


def points(seed, n=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)


# -- parity with the published formulas -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutmix_d_is_bce_against_the_boxs_area_fraction(seed):
    D, (x, gz) = image_d(), images(seed)
    got = plugin_term(CutMixD, CutMixSettings(weight=0.5), D, x, gz, seed)
    m, lam = ref_masks(torch.Generator().manual_seed(seed), 6, 8, 8)
    mixed = m * x + (1 - m) * gz  # x̃ = M⊙x + (1 − M)⊙G(z)
    assert torch.equal(m.flatten(1).mean(1), lam)  # λ is the area fraction of M
    want = 0.5 * F.binary_cross_entropy_with_logits(D(mixed).flatten(), lam, reduction="none").mean()
    assert_same(got, want, D)


def test_mix_consistency_images_cutmix_box_inverted_half_the_time():
    D, (x, gz) = image_d(), images(3, n=16)
    got = plugin_term(MixConsistency, MixConsistencySettings(weight=1.0), D, x, gz, 3)
    m, lam = ref_masks(torch.Generator().manual_seed(3), 16, 8, 8, invert=True)
    # unetgan train_fns.py: mix = D_real*M + D_fake*(1−M); F.mse_loss(D_mixed, mix), the target not detached
    target = D(x) * lam[:, None] + D(gz) * (1 - lam[:, None])
    want = F.mse_loss(D(m * x + (1 - m) * gz), target)
    # One forward over [x, G(z), x̃] against three: the same rows through the same conv/GEMM kernels at
    # another batch size, which may block the sums differently (float rounding only).
    assert_same(got, want, D, exact=False)
    assert 0 < (lam > 0.5).sum() < 16  # both orientations occur


def test_mix_consistency_points_blend_with_lambda_uniform():
    D, (x, gz) = toy_d(), points(4)
    got = plugin_term(MixConsistency, MixConsistencySettings(weight=2.0), D, x, gz, 4)
    lam = torch.rand(8, generator=torch.Generator().manual_seed(4))[:, None]  # Beta(1, 1)
    want = 2.0 * F.mse_loss(D(lam * x + (1 - lam) * gz), lam * D(x) + (1 - lam) * D(gz))
    assert_same(got, want, D, exact=False)  # one forward of 3n rows against three of n (as above)
    # ... and that is the only difference: with D's three outputs from one forward, bit for bit
    d_x, d_g, d_m = D(torch.cat([x, gz, lam * x + (1 - lam) * gz])).split(8)
    assert_same(got, 2.0 * (d_m - (lam * d_x + (1 - lam) * d_g)).pow(2).flatten().mean(), D)


def ref_bcr_term(D, x, t):
    return (D(x) - D(t)).pow(2).sum(-1).mean()  # E‖D(x) − D(T(x))‖² (bCR, Zhao et al. 2021, Alg. 1)


def test_mix_bcr_mixup_within_each_batch():
    D, (x, gz) = toy_d(), points(5)
    got = plugin_term(MixBCR, MixBCRSettings(real=10.0, fake=5.0, alpha=0.4), D, x, gz, 5)
    g, want, one_forward = torch.Generator().manual_seed(5), 0, 0
    for w, batch in ((10.0, x), (5.0, gz)):
        perm = torch.randperm(8, generator=g)
        gam = torch._standard_gamma(torch.full((2, 8), 0.4), generator=g)
        lam = (gam[0] / (gam[0] + gam[1]))[:, None]  # Beta(α, α) = X/(X + Y), X, Y ~ Gamma(α)
        t = lam * batch + (1 - lam) * batch[perm]
        want = want + w * ref_bcr_term(D, batch, t)
        d, d_t = D(torch.cat([batch, t])).split(8)
        one_forward = one_forward + w * (d - d_t).pow(2).sum(-1).mean()
    assert_same(got, want, D, exact=False)  # one forward over [x, T(x)] against two (as above)
    assert_same(got, one_forward, D)  # the only difference: bit for bit with one forward


def test_mix_bcr_cutmix_within_each_batch_on_images():
    D, (x, gz) = image_d(), images(6)
    got = plugin_term(MixBCR, MixBCRSettings(real=1.0, fake=0.0, mix="cutmix"), D, x, gz, 6)
    g = torch.Generator().manual_seed(6)
    perm = torch.randperm(6, generator=g)
    m, _ = ref_masks(g, 6, 8, 8)
    want = ref_bcr_term(D, x, m * x + (1 - m) * x[perm])  # the fake source is off: no term, no draws
    assert_same(got, want, D, exact=False)


@pytest.mark.parametrize("per_sample", [False, True])
def test_adaptivemix_is_the_authors_feature_shrinkage(per_sample):
    D, (x, gz) = toy_d(), points(7)
    split = mixgan.SplitD(features=D[:-1], head=D[-1])
    got = plugin_term(AdaptiveMix, AdaptiveMixSettings(weight=1.0, noise=0.05, per_sample=per_sample),
                      split, x, gz, 7)
    g, want = torch.Generator().manual_seed(7), 0
    f = D[:-1]
    for batch in (x, gz):  # WentianZhang-ML/AdaptiveMix networks.py adaptive_mix and loss.py, per batch
        perm = torch.randperm(8, generator=g)
        lam = torch.rand(8 if per_sample else 1, generator=g)[:, None]  # np.random.beta(1, 1)
        x_a, x_b = batch, batch[perm]
        out_mixed = f(x_a * lam + x_b * (1 - lam))
        mix_z = f(x_a) * lam + f(x_b) * (1 - lam)
        mix_z_ = mix_z + torch.randn(mix_z.shape, generator=g) * 0.05
        want = want - F.cosine_similarity(out_mixed.view(8, -1), mix_z_.view(8, -1).detach(), dim=1).mean()
    # f(x_b) here against f(x_a) permuted there: the same rows, and bit for bit the same. The head gets no
    # gradient (L reads the features only).
    assert_same(got, want, f)


# -- stacks: a member computes what it computes alone ----------------------------------------------------


def stacked_critic(nets):
    """S plain image Ds as one critic (S, n, C, H, W) → (S, n, 1): the engine's view of a stack."""
    return lambda x: torch.stack([single_member(net)(x[s:s + 1])[0] for s, net in enumerate(nets)])


TOY_CASES = [(MixConsistency, MixConsistencySettings(weight=1.0)),
             (MixBCR, MixBCRSettings(real=1.0, fake=2.0)), (AdaptiveMix, AdaptiveMixSettings(weight=1.0))]
IMAGE_CASES = [(CutMixD, CutMixSettings(weight=1.0)), (MixConsistency, MixConsistencySettings(weight=1.0)),
               (MixBCR, MixBCRSettings(real=1.0, fake=1.0, mix="cutmix"))]


@pytest.mark.parametrize("cls,settings", TOY_CASES)
@pytest.mark.parametrize("family", [mlp, maxout_mlp])
def test_toy_member_of_a_stack_computes_what_it_computes_alone(cls, settings, family):
    nets = [family(2, 1, 8, 2) for _ in range(2)]
    both, alone = stack_nets(nets), stack_nets(nets[1:])
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2, 8, 2, generator=g), torch.randn(2, 8, 2, generator=g)
    term2 = cls([settings, settings]).d_term(both, real, fake, MemberStreams.from_seeds([0, 1], "cpu"))
    term1 = cls([settings]).d_term(alone, real[1:], fake[1:], MemberStreams.from_seeds([1], "cpu"))
    assert torch.equal(term2[1:], term1)
    g2, g1 = grads(term2.sum(), both), grads(term1.sum(), alone)
    assert all(torch.equal(a[1:], b) for a, b in zip(g2, g1))


@pytest.mark.parametrize("cls,settings", IMAGE_CASES)
def test_image_member_of_a_stack_computes_what_it_computes_alone(cls, settings):
    nets = [image_d(1), image_d(2)]
    real, fake = torch.stack(images(0)), torch.stack(images(1))
    term2 = cls([settings, settings]).d_term(stacked_critic(nets), real, fake,
                                              MemberStreams.from_seeds([0, 1], "cpu"))
    term1 = cls([settings]).d_term(stacked_critic(nets[1:]), real[1:], fake[1:],
                                   MemberStreams.from_seeds([1], "cpu"))
    assert torch.equal(term2[1:], term1)


# -- D = head ∘ features ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [mlp, maxout_mlp])
def test_toy_ds_are_head_after_features(family):
    D = stack_nets([family(4, 1, 8, 3) for _ in range(2)])
    x = torch.randn(2, 5, 4)
    assert torch.equal(D.head(D.features(x)), D(x)) and D.features(x).shape == (2, 5, 8)


def test_dcgan_d_and_splitd_keep_the_split_through_single_member():
    from mixgan.models.dcgan import DCGANDiscriminator

    D = DCGANDiscriminator(3, 8, base=4)
    x = torch.rand(1, 5, 3, 8, 8)
    crit = single_member(D)
    assert torch.equal(crit.head(crit.features(x)), crit(x)) and crit(x).shape == (1, 5, 1)
    assert not hasattr(single_member(toy_d()), "features")  # a plain Sequential has no split


def test_mix_consistency_warmup_ramps_over_iterations():
    D, (x, gz) = toy_d(), points(8)
    p = MixConsistency([MixConsistencySettings(weight=1.0, warmup=4), MixConsistencySettings(weight=1.0)])
    crit = lambda t: torch.stack([single_member(D)(t[s:s + 1])[0] for s in range(2)])  # noqa: E731
    for step, want in ((0, 0.0), (1, 0.25), (4, 1.0), (10, 1.0)):
        p.at_step(step, 10)
        rand = MemberStreams.from_seeds([0, 0], "cpu")
        term = p.d_term(crit, torch.stack([x, x]), torch.stack([gz, gz]), rand)
        assert p.factor.tolist() == [want, 1.0]
        assert torch.equal(term[0], want * p.last[0]) and torch.equal(term[1], p.last[1])


def test_metrics_are_the_unweighted_penalty_and_lambdas_mean():
    D, (x, gz) = image_d(), images(0)
    loss = mixgan.GANLoss(stabilizers=[mixgan.CutMixD(weight=3.0)])
    got = loss.d_loss(D, x, gz, torch.Generator().manual_seed(0)) - mixgan.GANLoss().d_loss(D, x, gz)
    m = loss.metrics()
    _, lam = ref_masks(torch.Generator().manual_seed(0), 6, 8, 8)
    assert m["stability/cutmix_lambda"] == pytest.approx(lam.mean().item())
    assert got.item() == pytest.approx(3.0 * m["stability/cutmix"], rel=1e-5)


# -- refusals, in one line --------------------------------------------------------------------------------


def one_line(err):
    assert "\n" not in str(err.value) and "accepted" in str(err.value)


@pytest.mark.parametrize("build", [
    lambda: mixgan.CutMixD(weight=-1.0), lambda: mixgan.MixBCR(mix="box"), lambda: mixgan.MixBCR(alpha=0),
    lambda: mixgan.MixBCR(real=-1.0), lambda: mixgan.AdaptiveMix(noise=-0.1),
    lambda: mixgan.MixConsistency(warmup=-2), lambda: mixgan.MixConsistency(wieght=1.0),
    lambda: mixgan.SplitD(features=3, head=torch.nn.Identity()),
])
def test_bad_settings_fail_when_built(build):
    with pytest.raises(mixgan.ConfigError) as err:
        build()
    one_line(err)


@pytest.mark.parametrize("section,value", [("cutmix", CutMixSettings(weight=1.0)),
                                           ("mix_bcr", MixBCRSettings(real=1.0, mix="cutmix"))])
def test_a_box_on_toy_points_is_refused(section, value):
    st = stabilizers_schema()()
    setattr(st, section, value)
    with pytest.raises(mixgan.ConfigError, match="2-D points") as err:
        check_stabilizers(st, batch_size=8, toy=True)
    one_line(err)
    check_stabilizers(st, batch_size=8, toy=False)  # images: fine
    x, gz = points(0)
    with pytest.raises(ValueError, match="images") as err:  # called on points anyway: refused too
        cls = CutMixD if section == "cutmix" else MixBCR
        plugin_term(cls, value, toy_d(), x, gz, 0)
    one_line(err)


def test_adaptivemix_refuses_a_d_without_features_and_head():
    x, gz = points(0)
    loss = mixgan.GANLoss(stabilizers=[mixgan.AdaptiveMix()])
    with pytest.raises(mixgan.ConfigError, match="SplitD") as err:
        loss.d_loss(toy_d(), x, gz)
    one_line(err)
    D = toy_d()
    assert loss.d_loss(mixgan.SplitD(features=D[:-1], head=D[-1]), x, gz).isfinite()


# -- through the trainers ---------------------------------------------------------------------------------


def test_toy_run_logs_the_familys_metrics_and_resumes(tmp_path):
    family = ["--stabilizers.mix_consistency.weight=1", "--stabilizers.mix_consistency.warmup=2",
              "--stabilizers.mix_bcr.real=1", "--stabilizers.mix_bcr.fake=1",
              "--stabilizers.adaptivemix.weight=1", "--model.d.name=maxout", "--model.hidden=8",
              "--train.d_steps=1", "--metrics.every=2", "--run.checkpoint_every=2", "--device=cpu"]
    last = rows(train(tmp_path, *family, "--train.iterations=4", name="full"))[-1]
    for key in ("stability/mix_consistency", "stability/mix_bcr_real", "stability/adaptivemix_lambda"):
        assert key in last and math.isfinite(last[key])
    assert 0 < last["stability/adaptivemix_lambda"] < 1
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut", *family, "--train.iterations=2"]) == 0
    assert main(["--resume", str(tmp_path / "cut"), "--train.iterations=4"]) == 0
    assert rows(tmp_path / "cut")[-1]["loss/D"] == last["loss/D"]  # resumed = uninterrupted


def test_a_toy_run_with_cutmix_is_refused_in_one_line(tmp_path, capsys):
    assert main([f"--run.dir={tmp_path}", "--stabilizers.cutmix.weight=1", "--device=cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2-D points" in err[0] and not (tmp_path / "run").exists()


def test_the_image_trainers_d_keeps_its_split_in_float32():
    from mixgan.models.dcgan import DCGANDiscriminator
    from mixgan.trainers.image_gan import _float_logits

    D = DCGANDiscriminator(3, 8, base=4)
    crit = single_member(_float_logits(D))
    x, gz = images(0)
    loss = mixgan.GANLoss(stabilizers=[mixgan.AdaptiveMix(), mixgan.CutMixD(), mixgan.MixConsistency()])
    engine = loss._engine
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = engine.d_loss(crit, x[None], gz[None], MemberStreams.from_seeds([0], "cpu"))
    assert out.dtype == torch.float32 and out.isfinite().all()
    assert crit.features(x[None]).dtype == torch.float32
