"""Issue 33, item 7: a toy-GAN run's health verdict at each evaluation (metrics/health.py), on
constructed sample sets scored by the runs' own code, and where a user reads it: the progress bar, the
TensorBoard Text tab, summary.json and the closing lines, next to the data's and noise's numbers."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import mixgan
from mixgan.data import GAN_DATA
from mixgan.metrics import health
from mixgan.metrics.toy import ToyReference
from mixgan.metrics.toy_reference import NOISE, data_box, generators, reference_scores
from mixgan.trainers.console import postfix
from mixgan.trainers.gan import GanTrainer

from runhelp import rows, train

N = 500  # the run's sample size: references and samples alike
BALANCED = {"loss/D": 1.2, "loss/G": 0.7, "stability/D_real": 0.6, "stability/D_fake": 0.4,
            "stability/grad_norm_G": 0.8}


@pytest.fixture(scope="module")
def grid():
    data = GAN_DATA["grid25"]()
    ref = ToyReference(data, N, N)
    return data, ref, health.references(ref, N)


def row(ref, samples, **probes):
    """A measurement's row: the quality of `samples` (N, 2) as a run scores it, and D's probes."""
    quality = {k: float(v[0]) for k, v in ref.score(samples[None]).items()}
    return {**BALANCED, **quality, **probes}


def draw(data, name, seed):
    return generators(data)[name](N, torch.Generator().manual_seed(seed))


def test_each_verdict_on_constructed_sample_sets(grid):
    data, ref, refs = grid
    # another draw of the data (not the references' own seeds): healthy
    assert health.judge(row(ref, draw(data, "the data (another draw)", 5)), refs).verdict == "healthy"
    # all mass on one mode, any mode: collapsed
    for mode in (0, 12, 24):
        one = data.means[mode] + data.std * torch.randn(N, 2, generator=torch.Generator().manual_seed(mode))
        h = health.judge(row(ref, one), refs)
        assert h.verdict == "collapsed" and "one mode" in h.why
    # uniform noise over the box, draws the references never saw: noise-level
    for seed in (11, 12, 13):
        assert health.judge(row(ref, draw(data, NOISE, seed)), refs).verdict == "noise-level"
    # NaN samples (or a NaN loss): diverged
    nan = draw(data, "the data (another draw)", 5)
    nan[::7] = math.nan
    assert health.judge(row(ref, nan), refs).verdict == "diverged"
    assert health.judge({**row(ref, draw(data, "the data (another draw)", 5)), "loss/D": math.inf},
                        refs).verdict == "diverged"
    # blur within the modes' reach is not noise and not collapse
    blur = generators(data)["modes blurred, σ = 2·std"](N, torch.Generator().manual_seed(3))
    assert health.judge(row(ref, blur), refs).verdict == "healthy"


def test_d_saturated_needs_both_outputs_at_0_1_and_a_vanishing_g_gradient(grid):
    data, ref, refs = grid
    good = row(ref, draw(data, "the data (another draw)", 5))
    saturated = {"stability/D_real": 0.998, "stability/D_fake": 0.002, "stability/grad_norm_G": 1e-4}
    assert health.judge({**good, **saturated}, refs).verdict == "D-saturated"
    assert health.judge({**good, **saturated}, None).verdict == "D-saturated"  # no references needed
    for k, v in (("stability/grad_norm_G", 0.5), ("stability/D_fake", 0.2), ("stability/D_real", 0.9)):
        assert health.judge({**good, **saturated, k: v}, refs).verdict == "healthy"
    # a critic (hinge, WGAN) reports raw outputs, not σ(D): never judged saturated
    assert health.judge({**good, **saturated}, refs, probability=False).verdict == "healthy"


def test_references_are_the_first_draws_of_compares_and_computed_once(grid):
    data, ref, refs = grid
    full = reference_scores(ref, {"quality/": N})
    for short, long in health.NAMES.items():
        for tag, values in refs.scores[short].items():
            assert values == full[long][tag][:health.DRAWS[short]]
    assert health.references(ref, N) is refs  # cached per geometry and size
    lo, hi = data_box(data.means)
    assert refs.collapse_level() == pytest.approx(1.5 * refs.mean("one mode", "quality/coverage"))
    assert refs.noise_level("quality/coverage") >= max(refs.scores["noise"]["quality/coverage"])
    assert lo.tolist() == [-1.25, -1.25] and hi.tolist() == [1.25, 1.25]


def test_the_bar_shows_a_runs_verdict_and_a_stacks_counts():
    run = SimpleNamespace(last={"quality/coverage": 0.09}, health=health.Health("noise-level", ""))
    assert postfix([run], ("quality/coverage",)) == {"coverage": "0.09", "health": "noise-level"}
    other = SimpleNamespace(last={}, health=health.Health("healthy", ""))
    assert postfix([run, other, other], ()) == {"health": "1 noise-level, 2 healthy"}
    assert postfix([SimpleNamespace(last={}, health=None)] * 2, ()) == {}


def test_a_cli_run_records_its_verdict_beside_the_references_and_trains_as_without(tmp_path, monkeypatch,
                                                                                   capsys):
    run = train(tmp_path, "--mixup", name="judged")
    summary = json.loads((run / "summary.json").read_text())
    h = summary["health"]
    assert h["verdict"] in health.VERDICTS and h["step"] == 40 and h["why"]
    for name in ("data", "one mode", "noise"):
        assert 0 <= h["references"][name]["quality/coverage"] <= 1
    assert h["references"]["data"]["quality/coverage"] > 0.9 > h["levels"]["noise"]["quality/coverage"]
    from mixgan.trainers.loop import print_summary

    print_summary(summary, ("quality/coverage",))
    out = capsys.readouterr().out
    noise = h["references"]["noise"]["quality/coverage"]
    assert f"(noise {noise:.3g}, one mode" in out and f"health at step 40: {h['verdict']}: " in out
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"tensors": 0})
    acc.Reload()
    assert [e.step for e in acc.Tensors("health/text_summary")] == [10, 20, 30, 40]
    # measuring health never changes a number: the rows of a run without it are the same
    monkeypatch.delattr(GanTrainer, "health")
    plain = train(tmp_path, "--mixup", name="plain")
    assert rows(plain) == rows(run)
    assert "health" not in json.loads((plain / "summary.json").read_text())


def test_train_gan_judges_toy_data_only(tmp_path):
    def G():
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))

    def D():
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))

    args = dict(G=G, D=D, loss=mixgan.GANLoss(mixgan.ERM()), steps=10, batch_size=16, metrics_every=5,
                image_every=0, progress=False)
    toy = mixgan.train_gan(data="grid25", dir=tmp_path / "toy", **args)
    assert toy["health"]["verdict"] in health.VERDICTS and "noise" in toy["health"]["references"]
    points = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    assert "health" not in mixgan.train_gan(data=points, dir=tmp_path / "tensor", **args)
