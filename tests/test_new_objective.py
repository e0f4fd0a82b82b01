"""Issue 12's promise: a new GAN objective is one class and one registry line; it then trains alone,
stacked over seeds (and member settings), and in the image GAN, with no other file touched."""

import pytest
import torch
import torch.nn.functional as F

from mixgan.objectives import gan
from mixgan.train import main

from runhelp import TINY, rows


class SmoothedErm:
    """A test-only objective: ERM with one-sided label smoothing, d(x) → 1 − ε with ε = α/2
    (Salimans et al. 2016), so that α is a member setting that changes the numbers."""

    reads = ("alpha",)
    member_keys = ("alpha",)
    d_batches = 1

    def __init__(self, sections, device="cpu"):
        self.eps = torch.tensor([s.alpha / 2 for s in sections], device=device)

    def d_loss(self, D, real, fake, rand):
        target = (1 - self.eps)[:, None].expand(real.shape[0], real.shape[1])
        return gan.bce(D(real), target) + gan.member_mean(F.softplus(D(fake)))

    def g_loss(self, D, real, fake, rand):
        return gan.member_mean(F.softplus(-D(fake)))  # non-saturating


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(gan.GAN_OBJECTIVES, "smoothed", SmoothedErm)  # the one registry line


def test_a_new_objective_trains_alone_and_stacked_like_alone(tmp_path, registered):
    args = [*TINY, "--train.iterations=20", "--metrics.image_every=0", "--objective.name=smoothed",
            f"--run.dir={tmp_path}"]
    assert main([*args, "--run.name=alone", "--seed=1", "--objective.alpha=0.4"]) == 0
    assert main([*args, "--run.name=group", "--seeds=0-1", "--objective.alpha=0.4"]) == 0
    stacked, alone = rows(tmp_path / "group" / "group-s1"), rows(tmp_path / "alone")
    assert [r["step"] for r in stacked] == [r["step"] for r in alone]
    for a, b in zip(stacked, alone):
        assert all(a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-4) for k in b)
    assert main([*args, "--run.name=other", "--seed=1", "--objective.alpha=1.0"]) == 0
    assert rows(tmp_path / "other") != alone  # α acts: it is the objective's member setting


def test_a_new_objective_trains_in_the_image_gan(tmp_path, registered):
    from mixgan.config.core import load_config
    from mixgan.trainers.image_gan import ImageGanTrainer

    cfg = load_config(None, [("data.n", 64), ("model.g_base", 8), ("model.d_base", 8),
                             ("model.latent_dim", 8), ("train.batch_size", 8), ("train.iterations", 2),
                             ("device", "cpu"), ("objective.name", "smoothed"),
                             ("metrics.cache_dir", str(tmp_path))], task="image_gan")
    trainer = ImageGanTrainer(cfg, torch.device("cpu"))
    assert isinstance(trainer.objective, SmoothedErm)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.advance()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.G.parameters()))
