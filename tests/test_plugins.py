"""Registries refuse duplicates and unknown names; other packages' plugins arrive through entry points
(provided here by monkeypatching importlib.metadata.entry_points) and are then usable by name from the
command line, in configs and in the public API."""

import importlib.metadata as md
import json
from dataclasses import dataclass

import pytest
import torch

import mixgan
from mixgan._registry import Registry


@dataclass
class TheirSettings:
    weight: float = 0.0


class TheirStabilizer(mixgan.Stabilizer):
    """+ weight·E[D(x)²]: a toy stabilizer that counts its calls in its state."""

    Settings = TheirSettings
    member_keys = ("weight",)
    metric_names = ("stability/theirs_calls",)

    def __init__(self, settings, device="cpu"):
        super().__init__(settings, device)
        self.weight, self.calls = self.member_tensor("weight"), torch.zeros(len(settings), device=self.device)

    def d_term(self, D, real, fake, rand):
        self.calls += 1
        return self.weight * D(real).flatten(1).pow(2).mean(1)

    def state(self):
        return {"calls": self.calls}

    def metrics(self):
        return {"stability/theirs_calls": self.calls}


def their_ring(std=0.01, radius=1.0, spacing=0.5):
    from mixgan.data.toy import ring8

    return ring8(std=std, radius=2 * radius)


def fake_entry_points(monkeypatch):
    eps = {"mixgan.stabilizers": [md.EntryPoint("theirs", f"{__name__}:TheirStabilizer",
                                                "mixgan.stabilizers")],
           "mixgan.toy_data": [md.EntryPoint("their_ring", f"{__name__}:THEIR_DATA", "mixgan.toy_data")]}
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: eps[group] if group in eps
                        else real(group=group, **kw) if group else real(**kw))
    from mixgan.data import GAN_DATA
    from mixgan.objectives.plugins import STABILIZERS

    for reg in (STABILIZERS, GAN_DATA):  # read again, as in a fresh process; forget them afterwards
        monkeypatch.setattr(reg, "_plugins_read", False)
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))


def test_registry_refuses_duplicates_and_unknown_names():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(mixgan.ConfigError, match="registered twice"):
        reg.register("a", 2)
    with pytest.raises(mixgan.ConfigError, match="unknown widget 'b'; accepted: a"):
        reg["b"]
    with pytest.raises(mixgan.ConfigError, match="identifier"):
        reg.register("a.b:c", 3)


def test_entry_point_plugins_train_from_the_command_line(monkeypatch, tmp_path):
    import sys

    from mixgan.data import ToyDataSet

    monkeypatch.setattr(sys.modules[__name__], "THEIR_DATA", ToyDataSet(their_ring, ("std", "radius")),
                        raising=False)
    fake_entry_points(monkeypatch)
    from mixgan.train import main

    args = ["--train.iterations=2", "--train.batch_size=8", "--train.d_steps=1", "--model.hidden=8",
            "--metrics.every=1", "--metrics.n_samples=20", "--metrics.image_every=0", "--run.progress=false",
            "--device=cpu", f"--run.dir={tmp_path}", "--run.name=p", "--data.name=their_ring",
            "--stabilizers.theirs.weight=0.5"]
    assert main(args) == 0
    rows = [json.loads(x) for x in (tmp_path / "p" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["stability/theirs_calls"] == 2.0  # its state, counted by its own d_term
    ckpt = torch.load(tmp_path / "p" / "checkpoint.pt", weights_only=True)
    assert ckpt["trainer"]["stabilizers"]["theirs"]["calls"].item() == 2.0
    assert main(["--resume", str(tmp_path / "p"), "--train.iterations=3"]) == 0  # restored, then counted on
    rows = [json.loads(x) for x in (tmp_path / "p" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["stability/theirs_calls"] == 3.0
    # and in the public API, by name
    loss = mixgan.GANLoss(stabilizers=[mixgan.stabilizer("theirs", weight=1.0)])
    D = torch.nn.Linear(2, 1)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    want = mixgan.GANLoss().d_loss(D, real, fake) + D(real).pow(2).mean()
    assert torch.allclose(loss.d_loss(D, real, fake), want)
    with pytest.raises(mixgan.ConfigError, match="theirs"):  # listed among the accepted names
        mixgan.stabilizer("their")
