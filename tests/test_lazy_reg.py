"""Lazy regularization (objectives/stabilizers.py, `stabilizers.*.every`): D minibatches counted over
the whole run, i = t·d_steps + k, a penalty on the D steps i ≡ 0 (mod every) with weight × every
(Karras et al. 2020), in the eager and the CUDA-graph-safe form, through both GAN trainers, and
across a resume."""

from __future__ import annotations

import pytest
import torch

from mixgan.config.core import load_config
from mixgan.objectives import stabilizers as st
from mixgan.objectives.gan import make_gan_objective
from mixgan.streams import MemberStreams
from mixgan.train import main

PENALTY = torch.tensor([0.25, 1.5])  # what the recorded penalty returns for members 0 and 1


def lazy_objective(d_steps: int, every: int, graph_safe: bool, weights=(2.0, 3.0)) -> st.Stabilized:
    cfgs = [load_config(None, [("stabilizers.r1.weight", w), ("stabilizers.r1.every", every)], task="gan")
            for w in weights]
    obj = make_gan_objective([c.objective for c in cfgs], "cpu", [c.stabilizers for c in cfgs], d_steps,
                             graph_safe=graph_safe)
    assert isinstance(obj, st.Stabilized)
    return obj


def D(x: torch.Tensor) -> torch.Tensor:
    """A linear critic for the base loss (the penalty itself is replaced and recorded)."""
    return x.sum(-1, keepdim=True)


def record_penalties(monkeypatch) -> list[int]:
    """Replace `penalty` by a constant one that records each call (the objective's D-step index)."""
    calls: list[int] = []

    def fake(name, D, real, fake_, rand, c=0.5):
        calls.append(1)
        return PENALTY.clone()

    monkeypatch.setattr(st, "penalty", fake)
    return calls


@pytest.mark.parametrize("graph_safe", [False, True])
@pytest.mark.parametrize("d_steps", [1, 5])
@pytest.mark.parametrize("every", [1, 2, 3, 4, 16])
def test_the_penalty_runs_on_every_kth_d_step_of_the_run_with_weight_times_k(monkeypatch, d_steps, every,
                                                                            graph_safe):
    calls = record_penalties(monkeypatch)
    obj = lazy_objective(d_steps, every, graph_safe)
    real, fake = torch.randn(2, 4, 2), torch.randn(2, 4, 2)
    rand = MemberStreams.from_seeds([0, 1], "cpu")
    base = obj.base.d_loss(D, real, fake, rand)  # ERM draws nothing: the same base loss every step
    iterations = 40 // d_steps  # 40 D steps: every k ≤ 16 comes round at least twice
    applied, n_calls = [], []
    for t in range(iterations):
        obj.at_step(t, iterations)
        for _ in range(d_steps):
            before = len(calls)
            got = obj.d_loss(D, real, fake, rand)
            n_calls.append(len(calls) - before)
            extra = got - base
            if torch.equal(extra, torch.zeros(2)):
                applied.append(False)
            else:  # base + (weight × every)·penalty, per member, bit for bit
                assert torch.equal(got, base + torch.tensor([2.0, 3.0]) * every * PENALTY)
                applied.append(True)
    want = [i % every == 0 for i in range(iterations * d_steps)]
    assert applied == want
    # eager: computed only on its steps; graph-safe: computed on every step, × 0 off its steps
    assert n_calls == ([1] * len(want) if graph_safe else [int(w) for w in want])


def test_at_step_derives_the_count_from_the_step_alone():
    # A resumed run calls at_step(t, T) first: the count must not depend on the calls before it.
    for graph_safe in (False, True):
        fresh, resumed = lazy_objective(5, 3, graph_safe), lazy_objective(5, 3, graph_safe)
        for t in range(7):
            fresh.at_step(t, 10)
            fresh._index += 5  # as if the iteration's 5 D steps ran
        resumed.at_step(7, 10)
        fresh.at_step(7, 10)
        assert fresh._index == resumed._index == 35
        assert torch.equal(fresh.penalties[0][3], resumed.penalties[0][3])
    assert resumed.penalties[0][3].tolist() == [0, 1, 0, 0, 1]  # D steps 36 and 39 of the run


def test_without_at_step_the_d_loss_calls_are_counted_from_zero(monkeypatch):
    calls = record_penalties(monkeypatch)
    obj = lazy_objective(1, 4, graph_safe=False)
    for _ in range(9):
        obj.d_loss(D, torch.zeros(2, 2, 2), torch.zeros(2, 2, 2), MemberStreams.from_seeds([0, 1], "cpu"))
    assert len(calls) == 3  # D steps 0, 4, 8


def d_steps_with_penalty(monkeypatch, trainer, iterations: int) -> list[int]:
    """Run `iterations` of a trainer; the run's D-step indices on which the penalty ran."""
    steps: list[bool] = []
    obj = trainer.objective
    base_d_loss, penalty = obj.base.d_loss, st.penalty

    def d_loss(*args):
        steps.append(False)
        return base_d_loss(*args)

    def recorded(*args, **kw):
        steps[-1] = True
        return penalty(*args, **kw)

    monkeypatch.setattr(obj.base, "d_loss", d_loss)
    monkeypatch.setattr(st, "penalty", recorded)
    for _ in range(iterations):
        trainer.advance()
    return [i for i, on in enumerate(steps) if on]


@pytest.mark.parametrize("d_steps, every", [(5, 3), (5, 16), (1, 4)])
def test_the_toy_trainer_counts_d_steps_over_iterations(monkeypatch, d_steps, every):
    from mixgan.trainers.gan import GanTrainer

    cfg = load_config(None, [("model.hidden", 16), ("train.d_steps", d_steps), ("device", "cpu"),
                             ("stabilizers.r1.weight", 1.0), ("stabilizers.r1.every", every)], task="gan")
    trainer = GanTrainer(cfg, torch.device("cpu"))
    got = d_steps_with_penalty(monkeypatch, trainer, 40 // d_steps)
    assert got == list(range(0, 40, every))


def test_the_image_trainer_with_one_d_step_applies_the_penalty_every_kth_iteration(monkeypatch, tmp_path):
    # The image GAN's default d_steps = 1: every = 4 must mean iterations 0, 4, 8, not every one.
    from mixgan.trainers.image_gan import ImageGanTrainer

    cfg = load_config(None, [("data.n", 64), ("model.g_base", 8), ("model.d_base", 8),
                             ("model.latent_dim", 8), ("train.batch_size", 8), ("train.iterations", 10),
                             ("device", "cpu"), ("objective.loss", "hinge"), ("stabilizers.r1.weight", 1.0),
                             ("stabilizers.r1.every", 4), ("metrics.cache_dir", str(tmp_path))],
                      task="image_gan")
    trainer = ImageGanTrainer(cfg, torch.device("cpu"))
    assert trainer.objective.penalties[0][1].item() == 4.0  # weight × every
    assert d_steps_with_penalty(monkeypatch, trainer, 10) == [0, 4, 8]


def test_a_lazy_penalty_run_resumed_mid_interval_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    # Cut at iteration 25 (D step 125 ≡ 2 mod 3): a count restarted at 0 would shift the penalty steps.
    from mixgan.trainers.gan import GanTrainer

    from runhelp import TINY, ctrl_c_at, rows, train

    args = ["--stabilizers.r1.weight=1", "--stabilizers.r1.every=3"]
    full = rows(train(tmp_path, *args, name="full"))
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut", *args]) == 130
    restore()
    assert main(["--resume", str(tmp_path / "cut"), "--run.progress=false"]) == 0
    assert rows(tmp_path / "cut") == full


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_captured_cuda_graph_follows_the_lazy_count(monkeypatch):
    # The graph is captured at iteration 2 and replayed after: if the on/off pattern of iteration 2
    # were frozen in it, the graphed run would leave the eager one (whose factors are the same code).
    from mixgan.trainers.cuda_graph import ENV, GraphedIteration
    from mixgan.trainers.gan import GanTrainer

    def make() -> GanTrainer:
        cfg = load_config(None, [("model.hidden", 32), ("device", "cuda"), ("stabilizers.r1.weight", 1.0),
                                 ("stabilizers.r1.every", 3), ("stabilizers.gp.weight", 0.5),
                                 ("stabilizers.gp.every", 7)], task="gan")
        return GanTrainer(cfg, torch.device("cuda"))

    graphed = make()
    monkeypatch.setenv(ENV, "0")
    eager = make()
    assert isinstance(graphed._fast, GraphedIteration)
    for _ in range(12):
        graphed.advance()
        eager.advance()
    assert graphed._fast.captured and graphed._fast.failed is None
    torch.testing.assert_close(graphed.window, eager.window, rtol=1e-4, atol=1e-5)
    assert graphed.objective.penalties[0][3].tolist() == [0, 0, 1, 0, 0]  # iteration 11: D step 57
