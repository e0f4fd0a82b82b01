"""The public losses (mixgan.GANLoss and friends) are the engine's member-axis code at S = 1, bit for bit,
bad names and values fail when an object is built, and the plugin stabilizers (LeCam, DiffAugment)
match their papers' formulas and keep their state."""

import pytest
import torch

import mixgan
from mixgan.config.gan import GanObjective, stabilizers_schema
from mixgan.objectives.gan import make_gan_objective
from mixgan.objectives.stabilizers import d_base_loss, g_base_loss, penalty, soft_target_loss
from mixgan.streams import MemberStreams


def toy_d(width=2):
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


def image_d():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 4 * 4, 1))


def engine_losses(obj_keys, st_keys, D, real, fake, seed, d_steps=1):
    """The engine as a run uses it: sections → make_gan_objective → (1, n, ...) batches."""
    st = stabilizers_schema()()
    for name, value in st_keys.items():
        setattr(st, name, value)
    engine = make_gan_objective(GanObjective(**obj_keys), "cpu", st, d_steps)
    rand = MemberStreams([torch.Generator().manual_seed(seed)])
    crit = lambda x: D(x.flatten(0, 1)).view(x.shape[0], x.shape[1], -1)  # noqa: E731
    real, fake = real[None], fake[None]
    return engine.d_loss(crit, real, fake, rand)[0], engine.g_loss(crit, real, fake, rand)[0]


NS = "non_saturating"
CASES = [
    (mixgan.ERM(), [], {"name": "erm", "g_loss": NS}),
    (mixgan.ERM(loss="hinge"), [mixgan.R1(weight=2.0)], {"name": "erm", "loss": "hinge", "g_loss": NS}),
    (mixgan.Mixup(alpha=0.4), [mixgan.R2(weight=1.0), mixgan.LeCam(weight=0.3)],
     {"name": "mixup", "alpha": 0.4, "pairs": "real_fake", "lam": "beta", "g_loss": NS}),
    (mixgan.Mixup(alpha=0.2, form="demo"), [mixgan.WGANGP(weight=1.0), mixgan.InstanceNoise(std=0.1)],
     {"name": "mixup", "alpha": 0.2, "pairs": "any", "lam": "uniform", "g_loss": "saturating"}),
    (mixgan.ERM(), [mixgan.DRAGAN(weight=1.0), mixgan.PacGAN(m=2)], {"name": "erm", "g_loss": NS}),
]


@pytest.mark.parametrize("objective,stabilizers,keys", CASES)
def test_public_losses_are_the_engine_at_one_member_bit_for_bit(objective, stabilizers, keys):
    width = 4 if any(isinstance(s, mixgan.PacGAN) for s in stabilizers) else 2
    D = toy_d(width)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss = mixgan.GANLoss(objective, stabilizers=stabilizers)
    got_d = loss.d_loss(D, real, fake, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    got_d2, got_g = loss.d_loss(D, real, fake, gen), loss.g_loss(D, real, fake, gen)
    want_d, want_g = engine_losses(keys, {s.name: s.settings for s in stabilizers}, D, real, fake, 5)
    assert torch.equal(got_d, want_d) and got_g.shape == () and torch.equal(got_g, want_g)
    if not any(isinstance(s, mixgan.LeCam) for s in stabilizers):  # LeCam's anchors moved in between
        assert torch.equal(got_d, got_d2)


def test_image_stabilizers_are_the_engine_too():
    D, real, fake = image_d(), torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(6, 3, 8, 8) * 2 - 1
    specs = [mixgan.BalancedConsistency(real=10.0, fake=10.0),
             mixgan.DiffAugment(policy="color,translation,cutout")]
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=1.0), stabilizers=specs)
    gen = torch.Generator().manual_seed(3)
    got = loss.d_loss(D, real, fake, gen), loss.g_loss(D, real, fake, gen)
    keys = {"name": "mixup", "alpha": 1.0, "pairs": "real_fake", "lam": "beta", "g_loss": NS}
    want = engine_losses(keys, {s.name: s.settings for s in specs}, D, real, fake, 3)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.parametrize("build", [
    lambda: mixgan.ERM(loss="BCE"), lambda: mixgan.ERM(g_loss="minimax"),
    lambda: mixgan.Mixup(form="§3.7"),
    lambda: mixgan.Mixup(loss="hinge"), lambda: mixgan.Mixup(alpha=0), lambda: mixgan.R1(wieght=1.0),
    lambda: mixgan.R1(weight=-1.0), lambda: mixgan.LeCam(decay=1.0),
    lambda: mixgan.DiffAugment(policy="flip"),
    lambda: mixgan.stabilizer("r3"), lambda: mixgan.PacGAN(m=0), lambda: mixgan.GANLoss(mixgan.R1()),
    lambda: mixgan.GANLoss(stabilizers=[mixgan.R1(weight=1.0), mixgan.R1(weight=2.0)]),
    lambda: mixgan.GANLoss(d_steps=0),
    # issue 33: a stabilizer without the setting that turns it on would be silently off
    mixgan.R1, mixgan.LeCam, mixgan.DiffAugment, mixgan.InstanceNoise, mixgan.BalancedConsistency,
    lambda: mixgan.PacGAN(m=1), lambda: mixgan.stabilizer("lecam", decay=0.9),
    lambda: mixgan.R1(1.0, 2.0), lambda: mixgan.R1(1.0, weight=2.0),
    lambda: mixgan.GANLoss(stabilizers=[mixgan.stabilizer("spectral_norm", value=True)]),
    lambda: mixgan.GANLoss(stabilizers=[mixgan.PacGAN(m=2), mixgan.BalancedConsistency(real=1.0)]),
])
def test_bad_names_and_values_fail_when_built_in_one_line(build):
    with pytest.raises(mixgan.ConfigError) as err:
        build()
    assert "\n" not in str(err.value) and "accepted" in str(err.value)


def test_unknown_names_never_fall_through_to_another_formula():
    x = torch.zeros(1, 2, 1)
    rand = MemberStreams([torch.Generator()])
    for call in (lambda: d_base_loss(x, x, "BCE"), lambda: g_base_loss(x, "hinge_", "x"),
                 lambda: soft_target_loss(x, torch.zeros(1, 2), "hinge"),
                 lambda: penalty("R1", lambda t: t.sum(-1, keepdim=True), x, x, rand)):
        with pytest.raises(ValueError, match="accepted"):
            call()
    with pytest.raises(ValueError, match="objective.loss"):  # mixup with hinge once trained with BCE
        make_gan_objective(GanObjective(name="mixup", loss="hinge"))


def test_lecam_is_the_papers_formula_with_ema_anchors_and_keeps_its_state():
    D = toy_d()
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    loss = mixgan.GANLoss(mixgan.ERM(), stabilizers=[mixgan.LeCam(weight=0.5, decay=0.9)])
    base = mixgan.GANLoss(mixgan.ERM())
    anchors = torch.zeros(2)
    for _ in range(3):
        got = loss.d_loss(D, real, fake)
        with torch.no_grad():
            d_r, d_f = D(real).flatten(), D(fake).flatten()
        anchors = 0.9 * anchors + 0.1 * torch.stack([d_r.mean(), d_f.mean()])
        reg = torch.relu(d_r - anchors[1]).pow(2).mean() + torch.relu(anchors[0] - d_f).pow(2).mean()
        assert got.item() == pytest.approx((base.d_loss(D, real, fake) + 0.5 * reg).item(), abs=1e-6)
    m = loss.metrics()
    assert m["stability/lecam_anchor_real"] == pytest.approx(anchors[0].item(), abs=1e-6)
    state = loss.state_dict()
    other = mixgan.GANLoss(mixgan.ERM(), stabilizers=[mixgan.LeCam(weight=0.5, decay=0.9)])
    other.load_state_dict(state)
    assert torch.equal(other.d_loss(D, real, fake), loss.d_loss(D, real, fake))


def test_diffaugment_members_draw_alone_and_gradients_pass():
    from mixgan.objectives.diffaugment import DiffAugment, DiffAugmentSettings

    settings = DiffAugmentSettings(policy="color,translation,cutout")
    aug = DiffAugment([settings, settings])
    x = torch.rand(2, 4, 3, 8, 8, requires_grad=True)
    both = aug.augment(x, MemberStreams([torch.Generator().manual_seed(s) for s in (0, 1)]))
    alone = DiffAugment([settings]).augment(x[1:], MemberStreams([torch.Generator().manual_seed(1)]))
    assert torch.equal(both[1:], alone) and not torch.equal(both, x)
    both.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # translation alone moves pixels without changing them: every output value is an input value or 0
    shift = DiffAugment([DiffAugmentSettings(policy="translation")]).augment(
        x[:1].detach(), MemberStreams([torch.Generator()]))
    assert set(shift.unique().tolist()) <= set(x.detach().unique().tolist()) | {0.0}


def test_import_is_cheap_and_names_are_exported():
    import subprocess
    import sys

    code = "import sys, mixgan; assert 'torch' not in sys.modules; print(len(mixgan.__all__))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in mixgan.__all__:
        assert getattr(mixgan, name) is not None


def test_one_positional_value_is_the_setting_that_turns_a_stabilizer_on():
    # the docs' table reads `R1(weight, every=1)`: R1(10.0) is R1(weight=10.0)
    assert repr(mixgan.R1(10.0)) == repr(mixgan.R1(weight=10.0))
    assert repr(mixgan.LeCam(0.3, decay=0.9)) == repr(mixgan.LeCam(weight=0.3, decay=0.9))
    assert mixgan.PacGAN(m=3).settings == mixgan.stabilizer("pack", value=3).settings == 3
