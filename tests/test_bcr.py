"""Balanced consistency regularization (bCR, Zhao et al. 2021) in the image GAN: the augmentation T by
hand and against a per-image reimplementation, the term by hand with fixed draws, one training step
(ERM and mixup), HParams/compare ignoring it when off, and bad input."""

import pytest
import torch
import torch.nn.functional as F

from mixgan.config.core import load_config, to_dict
from mixgan.config.gan import GanObjective
from mixgan.objectives import stabilizers as st
from mixgan.objectives.augment import augment, draw_flip_translate, flip_translate
from mixgan.objectives.gan import ErmGan, make_gan_objective
from mixgan.streams import MemberStreams
from mixgan.train import main
from mixgan.trainers.gan_hparams import unused_stabilizers

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

BCR_KEYS = {"stabilizers.bcr.real", "stabilizers.bcr.fake", "stabilizers.bcr.shift"}


def images(S=2, n=3, C=2, H=5, W=6, seed=0):
    return torch.randn(S, n, C, H, W, generator=torch.Generator().manual_seed(seed))


def draws(flip, dx, dy):
    return torch.tensor(flip), torch.tensor(dx), torch.tensor(dy)


def one_by_one(x, flip, dx, dy, p):
    """A direct reimplementation, one image at a time: flip, reflect-pad by p, cut the shifted window."""
    out = torch.empty_like(x)
    H, W = x.shape[-2:]
    for s in range(x.shape[0]):
        for i in range(x.shape[1]):
            img = x[s, i].flip(-1) if flip[s, i] else x[s, i]
            pad = F.pad(img[None], (p, p, p, p), mode="reflect")[0]
            top, left = p - int(dy[s, i]), p - int(dx[s, i])
            out[s, i] = pad[:, top:top + H, left:left + W]
    return out


def test_no_flip_and_no_shift_is_the_identity_and_a_flip_is_torch_flip():
    x = images()
    zero = torch.zeros(2, 3, dtype=torch.long)
    no = torch.zeros(2, 3, dtype=torch.bool)
    assert torch.equal(flip_translate(x, no, zero, zero, 2), x)
    assert torch.equal(flip_translate(x, ~no, zero, zero, 2), torch.flip(x, dims=[-1]))
    assert torch.equal(flip_translate(x, ~no, zero, zero, 0), torch.flip(x, dims=[-1]))


def test_a_translated_image_is_the_shifted_original_reflected_at_the_border():
    x = torch.arange(16.0).view(1, 1, 1, 4, 4)  # x[i, j] = 4i + j
    out = flip_translate(x, *draws([[False]], [[1]], [[-2]]), p=2)[0, 0, 0]
    # out[i, j] = x[i + 2, j − 1] inside; column 0 reflects column −1 onto column 1
    assert torch.equal(out[:2, 1:], x[0, 0, 0, 2:, :3])
    assert out[:2, 0].tolist() == [9.0, 13.0]  # x[2, 1], x[3, 1]
    assert out[2:, 1:].tolist() == [[8.0, 9.0, 10.0], [4.0, 5.0, 6.0]]  # rows 4, 5 reflect rows 2, 1


def test_every_image_gets_its_own_draw_as_if_augmented_alone():
    x = images()
    g = torch.Generator().manual_seed(1)
    flip = torch.rand(2, 3, generator=g) < 0.5
    dx, dy = torch.randint(-2, 3, (2, 3), generator=g), torch.randint(-2, 3, (2, 3), generator=g)
    assert torch.equal(flip_translate(x, flip, dx, dy, 2), one_by_one(x, flip, dx, dy, 2))


def test_augment_keeps_shape_repeats_from_a_seed_and_each_member_draws_alone():
    x = images(n=16)
    out = augment(x, MemberStreams.from_seeds([3, 4], "cpu"), 2)
    assert out.shape == x.shape
    assert torch.equal(out, augment(x, MemberStreams.from_seeds([3, 4], "cpu"), 2))
    assert not torch.equal(out, x)
    want = flip_translate(x, *draw_flip_translate(MemberStreams.from_seeds([3, 4], "cpu"), 16, 2), 2)
    assert torch.equal(out, want)
    assert torch.equal(out[1:], augment(x[1:], MemberStreams.from_seeds([4], "cpu"), 2))  # member 1 alone
    flips = augment(x, MemberStreams.from_seeds([5, 6], "cpu"), 0)  # p = 0: flips only
    same, flipped = (flips == x).flatten(2).all(-1), (flips == x.flip(-1)).flatten(2).all(-1)
    assert (same | flipped).all() and same.any() and flipped.any()


class FixedDraws:
    """Stands in for MemberStreams: no flip for image 0, a flip for image 1, dx = 1, dy = 0 (p = 1)."""

    def uniform(self, n):
        return torch.tensor([[0.9, 0.1]])

    def randint(self, high, *shape):
        return torch.tensor([[[2, 2], [1, 1]]])  # minus p = 1: dx = 1, dy = 0


def top_left(w):
    """D(x) = w·x[0, 0] of the first channel: neither flip- nor shift-invariant."""
    return lambda x: w * x[..., 0, 0, 0].unsqueeze(-1)


def test_the_term_by_hand_with_fixed_draws_and_gradients_through_both_outputs():
    x = torch.arange(16.0).view(1, 1, 1, 4, 4).expand(1, 2, 1, 4, 4)  # x[i, j] = 4i + j, twice
    w = torch.tensor(1.5, requires_grad=True)
    # T(x)[0, 0] = x[0, −1] → reflected x[0, 1] = 1 (no flip); flipped: x[0, 4 − 1 − 1] = 2.
    # E(D(x) − D(T(x)))² = w²·((0 − 1)² + (0 − 2)²)/2 = 2.5 w²
    term = st.consistency(top_left(w), x, FixedDraws(), 1)
    assert term.tolist() == pytest.approx([2.5 * 1.5**2])
    (grad,) = torch.autograd.grad(term.sum(), w)
    assert grad.item() == pytest.approx(2 * 2.5 * 1.5)  # d/dw 2.5w²: neither output is detached

    cfg = load_config(None, [("stabilizers.bcr.real", 10.0), ("stabilizers.bcr.fake", 3.0),
                             ("stabilizers.bcr.shift", 0.25)], task="image_gan")  # 1/4 of 4 px: p = 1
    obj = make_gan_objective(cfg.objective, "cpu", cfg.stabilizers)
    assert isinstance(obj, st.Stabilized)
    D = top_left(torch.tensor(1.0))
    base = obj.base.d_loss(D, x, 2 * x, FixedDraws())
    # real: 2.5 (above); fake 2x: ((0 − 2)² + (0 − 4)²)/2 = 10
    assert (obj.d_loss(D, x, 2 * x, FixedDraws()) - base).item() == pytest.approx(10 * 2.5 + 3 * 10)


def test_the_term_is_zero_for_an_invariant_critic_or_invariant_images():
    def mean(x):  # D(x) = 2·mean(x): flip-invariant
        return 2.0 * x.flatten(2).mean(-1, keepdim=True)

    rand = MemberStreams.from_seeds([0, 1], "cpu")
    assert st.consistency(mean, images(n=8), rand, 0).tolist() == pytest.approx([0, 0], abs=1e-10)
    flat = images(n=8)[..., :1, :1].expand(2, 8, 2, 5, 6)  # constant images: T changes nothing
    assert st.consistency(top_left(torch.tensor(3.0)), flat, rand, 2).tolist() == [0.0, 0.0]


def test_bcr_is_built_only_when_on_and_its_keys_are_unread_when_off():
    off = load_config(None, [], task="image_gan")
    assert isinstance(make_gan_objective(off.objective, "cpu", off.stabilizers), ErmGan)
    assert set(unused_stabilizers(to_dict(off))) >= BCR_KEYS
    assert set(unused_stabilizers(to_dict(load_config(None, [])))) >= BCR_KEYS  # the toy GAN's config
    fake_only = load_config(None, [("stabilizers.bcr.fake", 1.0)], task="image_gan")
    obj = make_gan_objective(GanObjective(), "cpu", fake_only.stabilizers)
    assert isinstance(obj, st.Stabilized) and [i for i, _ in obj.bcr] == [1]
    assert not BCR_KEYS & set(unused_stabilizers(to_dict(fake_only)))


@pytest.mark.parametrize("objective", ["erm", "mixup"])
def test_image_gan_trains_a_step_with_bcr(tmp_path, objective):
    from mixgan.trainers.image_gan import ImageGanTrainer

    cfg = load_config(None, [("data.n", 64), ("model.g_base", 8), ("model.d_base", 8),
                             ("model.latent_dim", 8), ("train.batch_size", 8), ("train.iterations", 4),
                             ("device", "cpu"), ("objective.name", objective),
                             ("stabilizers.bcr.real", 10.0), ("stabilizers.bcr.fake", 10.0),
                             ("metrics.cache_dir", str(tmp_path))], task="image_gan")
    trainer = ImageGanTrainer(cfg, torch.device("cpu"))
    assert isinstance(trainer.objective, st.Stabilized) and len(trainer.objective.bcr) == 2
    before = [p.detach().clone() for p in trainer.D.parameters()]
    trainer.advance()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.D.parameters()))
    assert all(torch.isfinite(p).all() for p in trainer.D.parameters())


@pytest.mark.parametrize("args, fragment", [
    (["--task=image_gan", "--stabilizers.bcr.real=-1"],
     "stabilizers.bcr.real: got -1.0; accepted: a number >= 0"),
    (["--task=image_gan", "--stabilizers.bcr.shift=0.6"], "stabilizers.bcr.shift"),
    (["--stabilizers.bcr.fake=10"], "0 for the toy GAN (bCR augments images)"),
])
def test_bad_bcr_settings_are_one_line_before_anything_is_written(tmp_path, capsys, args, fragment):
    assert main([f"--run.dir={tmp_path / 'runs'}", "--run.progress=false", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
