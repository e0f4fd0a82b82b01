"""Batched seeds (mixgan/batched.py): a seed's run dir equals the same seed run alone, to the bit (CPU)."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mixgan.batched import train_seeds_batched
from mixgan.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.config import load_config
from mixgan.models.stacked_mlp import _linear
from mixgan.train import cli_overrides, main, make_parser
from mixgan.trainers.gan_batched import BatchedGanTrainer

from runhelp import TINY, rows, train

# On the CPU (bit-exactness is a CPU claim), measured at 10 and 20, one picture at the end.
SHORT = ["--device=cpu", "--train.iterations=20", "--metrics.image_every=0"]
OBJECTIVES = {  # plain ERM is the next test's
    "mixup_demo": ["--mixup"],
    "mixup_paper": ["--mixup", "--objective.pairs=real_fake", "--objective.lam=beta"],
    "erm_nonsat_latent5": ["--objective.g_loss=non_saturating", "--model.latent_dim=5"],
    "mixup_uniform_one_lam": ["--mixup", "--objective.pairs=real_fake", "--objective.per_sample=false",
                              "--train.batch_size=100"],
}


def seed_configs(run_dir: Path, seeds: list[int], *args: str) -> list:
    """The configs `python -m mixgan.train` builds from TINY + args, one per seed (run dir s<seed>)."""
    out = []
    for seed in seeds:
        ns, rest = make_parser().parse_known_args(
            [*TINY, *args, f"--run.dir={run_dir}", f"--run.name=s{seed}", f"--seed={seed}"])
        out.append(load_config(ns.config, cli_overrides(ns, rest), task=ns.task))
    return out


def assert_same_tree(a, b, path="") -> None:
    assert type(a) is type(b), path
    if isinstance(a, torch.Tensor):
        assert a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same_tree(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{path}/{i}")
    else:
        assert a == b, path


@pytest.mark.parametrize("name", OBJECTIVES)
def test_batched_seeds_equal_separate_runs(tmp_path, name):
    args = [*SHORT, *OBJECTIVES[name]]
    summaries = train_seeds_batched(seed_configs(tmp_path / "b", [1, 4], *args))
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    batched = Path(summaries[1]["run_dir"])
    alone = train(tmp_path / "alone", *args, "--seed=4", name="s4")
    assert rows(batched) == rows(alone)  # every metric at every measurement, to the bit
    assert rows(Path(summaries[0]["run_dir"])) != rows(batched)  # seeds 1 and 4 really differ
    assert summaries[1]["final"] == json.loads((alone / "summary.json").read_text())["final"]
    # The checkpoint is the one the run alone writes (weights, both Adams, window, every RNG),
    # so `python -m mixgan.train --resume` continues a batched seed like any run.
    assert_same_tree(load_checkpoint(batched / CHECKPOINT)["trainer"],
                     load_checkpoint(alone / CHECKPOINT)["trainer"])
    def files(run):  # event file names carry a time stamp
        return {"events" if p.name.startswith("events.out") else p.name for p in run.iterdir()}

    assert files(alone) == files(batched)


def test_one_diverging_seed_leaves_the_others_alone(tmp_path, monkeypatch):
    original = BatchedGanTrainer.advance

    def poison_seed_1(self):
        original(self)
        if self.step == 15:  # seed 1's D (a view of the stacks) becomes NaN, as in test_train_cli
            with torch.no_grad():
                for p in self.seeds[1].D.parameters():
                    p.fill_(float("nan"))

    monkeypatch.setattr(BatchedGanTrainer, "advance", poison_seed_1)
    s0, s1 = train_seeds_batched(seed_configs(tmp_path, [0, 1], *SHORT))
    assert s1["status"] == "diverged" and s1["diverged_at"] == 20
    assert [r["step"] for r in rows(Path(s1["run_dir"]))] == [10, 20]
    assert s0["status"] == "completed"
    monkeypatch.setattr(BatchedGanTrainer, "advance", original)
    assert rows(Path(s0["run_dir"])) == rows(train(tmp_path / "alone", *SHORT, "--seed=0"))


def test_ctrl_c_checkpoints_every_seed_and_each_resumes_alone(tmp_path, monkeypatch):
    args = ["--device=cpu", "--metrics.image_every=0", *OBJECTIVES["mixup_paper"]]
    original = BatchedGanTrainer.advance

    def interrupt_at_25(self):
        original(self)
        if self.step == 25:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(BatchedGanTrainer, "advance", interrupt_at_25)
    cut = train_seeds_batched(seed_configs(tmp_path / "b", [2, 3], *args))
    assert [s["status"] for s in cut] == ["interrupted", "interrupted"]
    assert all(load_checkpoint(Path(s["run_dir"]) / CHECKPOINT)["step"] == 25 for s in cut)
    monkeypatch.setattr(BatchedGanTrainer, "advance", original)
    run = Path(cut[1]["run_dir"])
    assert main(["--resume", str(run), "--run.progress=false"]) == 0
    assert rows(run) == rows(train(tmp_path / "alone", *args, "--seed=3"))


@pytest.mark.parametrize("n_in,n_out", [(2, 32), (32, 32), (32, 1), (32, 2), (5, 32), (10, 64), (64, 64)])
def test_batched_linear_gives_each_seed_f_linear_bits(n_in, n_out):
    # The ground the equality above stands on: forward and every gradient, per seed, to the bit.
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, n_out, n_in, generator=g, requires_grad=True)
    b = torch.randn(3, n_out, generator=g, requires_grad=True)
    x = torch.randn(3, 128, n_in, generator=g, requires_grad=True)
    y = _linear(x, W, b)
    grad = torch.randn(y.shape, generator=g)
    y.backward(grad)
    for s in range(3):
        Ws, bs, xs = (t.detach()[s].clone().requires_grad_() for t in (W, b, x))
        ys = F.linear(xs, Ws, bs)
        ys.backward(grad[s])
        assert torch.equal(y[s].detach(), ys.detach())
        assert torch.equal(W.grad[s], Ws.grad) and torch.equal(b.grad[s], bs.grad)
        assert torch.equal(x.grad[s], xs.grad)


@pytest.mark.parametrize("name", [*OBJECTIVES, "erm"])
def test_one_call_losses_equal_per_seed_losses(tmp_path, name):
    # Off the CPU the seeds' losses are one batched reduction (BatchedGanTrainer.exact is False);
    # run that path here: same maths as the per-seed calls, to float rounding.
    args = [*SHORT, *OBJECTIVES.get(name, [])]
    exact, fused = (BatchedGanTrainer(seed_configs(tmp_path, [0, 1, 2], *args), torch.device("cpu"))
                    for _ in range(2))
    fused.exact = False
    for _ in range(3):
        a, b = exact.train_step(), fused.train_step()
        for k in a:
            torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)


def test_seeds_must_share_the_config(tmp_path):
    a, b = seed_configs(tmp_path, [0, 1])
    b.train.lr = 0.5
    with pytest.raises(ValueError, match="share the config"):
        BatchedGanTrainer([a, b], torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batched_seeds_match_separate_runs_within_tolerance(tmp_path):
    # On CUDA bmm and mm are different kernels: equal to float tolerance over a short run.
    # IEEE fp32 (train.tf32=false): this checks the batching, not TF32's rounding.
    args = [*OBJECTIVES["mixup_paper"], "--device=cuda", "--train.tf32=false", "--train.iterations=10",
            "--metrics.every=5"]
    (summary,) = train_seeds_batched(seed_configs(tmp_path / "b", [7], *args))
    alone = rows(train(tmp_path / "alone", *args, "--seed=7"))
    for got, want in zip(rows(Path(summary["run_dir"])), alone):
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-3, abs=1e-4), k


def test_seeds_cli_trains_toy_gan_seeds_batched(tmp_path, monkeypatch):
    assert main([*TINY, *SHORT, f"--run.dir={tmp_path}", "--run.name=g", "--seeds", "0,1"]) == 0
    summaries = [json.loads((tmp_path / "g" / f"g-s{s}" / "summary.json").read_text()) for s in (0, 1)]
    assert [(s["status"], s["seeds_batched"]) for s in summaries] == [("completed", 2)] * 2
    monkeypatch.setenv("MIXGAN_BATCH_SEEDS", "0")  # the way back to one seed after another
    assert main([*TINY, *SHORT, f"--run.dir={tmp_path}", "--run.name=h", "--seeds", "0,1"]) == 0
    alone = tmp_path / "h" / "h-s1"
    assert "seeds_batched" not in json.loads((alone / "summary.json").read_text())
    assert rows(alone) == rows(tmp_path / "g" / "g-s1")

