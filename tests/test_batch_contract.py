"""Issue 33, item 3: the batch contract, one line each. `GANLoss` checks every call's shapes (no host
sync); `train_gan` checks once, before any run dir is written: finite data, G's output vs the data, D's
output, the demo form's even batch, image augmentations only on images."""

import pytest
import torch
from torch import nn

import mixgan

REAL = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))


def lin(i, o):
    return lambda: nn.Sequential(nn.Linear(i, 8), nn.ReLU(), nn.Linear(8, o))


@pytest.mark.parametrize(("loss", "D", "real", "fake", "match"), [
    (mixgan.GANLoss(), nn.Linear(2, 1), REAL, REAL[:1], r"real batch \(8, 2\) but fake batch \(1, 2\)"),
    (mixgan.GANLoss(), nn.Linear(2, 2), REAL, REAL, r"D's output is \(\d+, 2\) for \d+ inputs"),
    (mixgan.GANLoss(mixgan.Mixup(alpha=0.2)), nn.Linear(2, 2), REAL, REAL, r"D's output is \(8, 2\)"),
    (mixgan.GANLoss(mixgan.Mixup(form="demo")), nn.Linear(2, 1), REAL[:7], REAL[:7], "an even batch"),
    (mixgan.GANLoss(stabilizers=[mixgan.DiffAugment(policy="color")]), nn.Linear(2, 1), REAL, REAL,
     r"DiffAugment augments images \(n, C, H, W\)"),
])
def test_ganloss_refuses_a_broken_batch_in_one_line(loss, D, real, fake, match):
    for which in ("d_loss", "g_loss"):
        if "even" in match and which == "g_loss":
            continue  # G's step reads the unmixed batch
        with pytest.raises(mixgan.ConfigError, match=match) as err:
            getattr(loss, which)(D, real, fake)
        assert "\n" not in str(err.value)


def test_d_outputs_of_one_number_per_input_are_accepted_alike():
    torch.manual_seed(0)
    D = nn.Linear(2, 1)
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2))
    gen = torch.Generator().manual_seed(1)
    ref = loss.d_loss(D, REAL, REAL.flip(0), gen)
    for shape in ((-1,), (-1, 1, 1, 1)):  # (n,) and a conv D's (n, 1, 1, 1)
        out = loss.d_loss(lambda x, s=shape: D(x).reshape(s), REAL, REAL.flip(0), gen.manual_seed(1))
        assert torch.equal(out, ref)


NAN = REAL.clone()
NAN[3, 1] = float("nan")
INF = REAL.clone()
INF[0, 0] = float("inf")


@pytest.mark.parametrize(("kw", "match"), [
    ({"data": NAN}, "1 of 8 examples hold NaN or Inf"),
    ({"data": INF}, "NaN or Inf"),
    ({"data": lambda n, gen: torch.full((n, 2), float("nan"))}, "a batch holds NaN or Inf"),
    ({"G": lin(2, 3)}, r"G's output is \(\d+, 3\) but the data's batch is \(\d+, 2\)"),
    ({"latent": 5}, r"G failed on noise \(\d+, 5\) .*accepted: latent="),
    ({"D": lin(2, 2)}, r"D's output is \(\d+, 2\)"),
    ({"D": lin(3, 1)}, r"D failed on a data batch"),
    ({"loss": mixgan.GANLoss(stabilizers=[mixgan.DiffAugment(policy="translation")])}, "DiffAugment"),
])
def test_train_gan_checks_the_contract_before_any_run_dir(tmp_path, kw, match):
    args = dict(G=lin(2, 2), D=lin(2, 1), data=REAL, steps=2, batch_size=4, dir=tmp_path / "runs",
                progress=False)
    with pytest.raises(mixgan.ConfigError, match=match) as err:
        mixgan.train_gan(**{**args, **kw})
    assert "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()


def test_the_check_changes_nothing_in_training(tmp_path):
    # BN buffers, the global RNG (dropout) and the run's generator are as they would be without it
    def G():
        return nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))

    from mixgan.api.own_gan import OwnGanTrainer

    args = dict(G=G, D=lin(2, 1), data=REAL, steps=3, batch_size=4, metrics_every=3, image_every=-1,
                checkpoint_every=0, progress=False)
    first = mixgan.train_gan(dir=tmp_path / "a", **args)
    original = OwnGanTrainer.check_batches
    try:
        OwnGanTrainer.check_batches = lambda self: None
        second = mixgan.train_gan(dir=tmp_path / "b", **args)
    finally:
        OwnGanTrainer.check_batches = original
    assert first["final"] == second["final"]
