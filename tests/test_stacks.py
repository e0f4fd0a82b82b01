"""Stacks of runs (trainers/gan.py, mixgan/experiments/stacks.py): a member trains as it would alone.

The guarantee (docs/design.md, "Randomness"): a member draws exactly the random numbers of the same
run alone (its own generator) and runs the same arithmetic (tests/test_equivalence.py), so on the CPU
its metrics and checkpoint equal the run alone's bit for bit; its checkpoint is a run's checkpoint
and resumes alone or in a stack, with the numbers of the uninterrupted run.
"""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mixgan.config.core import load_config
from mixgan.experiments.stacks import pack, train_stack
from mixgan.models.stacked_mlp import stacked_linear
from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import cli_overrides, main, make_parser
from mixgan.trainers.gan import GanTrainer

from runhelp import TINY, ctrl_c_at, rows, train

SHORT = ["--device=cpu", "--train.iterations=20", "--metrics.image_every=0"]
OBJECTIVES = {
    "erm": [],
    "mixup_demo": ["--mixup"],
    "mixup_paper": ["--mixup", "--objective.pairs=real_fake", "--objective.lam=beta"],
    "erm_nonsat_latent5": ["--objective.g_loss=non_saturating", "--model.latent_dim=5"],
    "mixup_one_lam": ["--mixup", "--objective.pairs=real_fake", "--objective.per_sample=false"],
    # stabilizers (objectives/stabilizers.py): each trains stacked as alone
    "r1_hinge": ["--stabilizers.r1.weight=1", "--objective.loss=hinge"],
    "wgan_gp": ["--objective.loss=wasserstein", "--stabilizers.gp.weight=1"],
    "dragan_noise_lsgan": ["--stabilizers.dragan.weight=1", "--stabilizers.noise.std=0.1",
                           "--objective.loss=least_squares"],
    "pac2_sn_ema": ["--stabilizers.pack=2", "--stabilizers.spectral_norm=true", "--train.ema=0.9"],
    "mixup_r2_lazy": ["--mixup", "--stabilizers.r2.weight=0.5", "--stabilizers.r2.every=2"],
    "mixup_anneal_r1": ["--mixup", "--objective.anneal=cosine", "--stabilizers.r1.weight=1"],
}


def configs(run_dir: Path, members: list[tuple[int, float]], *args: str) -> list:
    """The configs `python -m mixgan.train` builds from TINY + args, one per (seed, α), in s<seed>a<α>."""
    out = []
    for seed, alpha in members:
        ns, rest = make_parser().parse_known_args(
            [*TINY, *args, f"--run.dir={run_dir}", f"--run.name=s{seed}a{alpha}", f"--seed={seed}",
             f"--objective.alpha={alpha}"])
        out.append(load_config(ns.config, cli_overrides(ns, rest), task=ns.task))
    return out


def stack(run_dir: Path, members: list[tuple[int, float]], *args: str) -> list[dict]:
    from mixgan.config.core import save_config

    cfgs = configs(run_dir, members, *args)
    dirs = []
    for c in cfgs:
        d = Path(c.run.dir) / c.run.name
        d.mkdir(parents=True)
        save_config(c, d / "config.yaml")
        dirs.append(d)
    return train_stack(cfgs, dirs)


def assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for k in b:
            assert a[k] == b[k], (a["step"], k)


@pytest.mark.parametrize("name", OBJECTIVES)
def test_a_member_of_a_stack_trains_as_it_would_alone(tmp_path, name):
    args = [*SHORT, *OBJECTIVES[name]]
    summaries = stack(tmp_path / "b", [(1, 0.2), (4, 0.2)], *args)
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    member = Path(summaries[1]["run_dir"])
    alone = train(tmp_path / "alone", *args, "--seed=4", name="s4")
    assert_rows_equal(rows(member), rows(alone))
    assert rows(Path(summaries[0]["run_dir"])) != rows(member)  # seeds 1 and 4 really differ
    # The checkpoint is the one the run alone writes (weights, both Adams, window, RNG), bit for bit.
    a, b = load_checkpoint(member / CHECKPOINT)["trainer"], load_checkpoint(alone / CHECKPOINT)["trainer"]
    assert a.keys() == b.keys() and a["G"].keys() == b["G"].keys()
    for net in ("G", "D"):
        for k in b[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    assert torch.equal(a["rng"]["gen"], b["rng"]["gen"])  # the same random stream, to the draw

    def files(run):  # event file names carry a time stamp
        return {"events" if p.name.startswith("events.out") else p.name for p in run.iterdir()}

    assert files(alone) == files(member)


def test_members_may_differ_in_alpha(tmp_path):
    # α is mixup's member setting: two α × two seeds are one stack of four.
    args = [*SHORT, *OBJECTIVES["mixup_paper"]]
    cfgs = configs(tmp_path / "x", [(0, 0.2), (1, 0.2), (0, 1.0), (1, 1.0)], *args)
    assert pack(cfgs) == [[0, 1, 2, 3]]
    summaries = stack(tmp_path / "b", [(0, 0.2), (1, 0.2), (0, 1.0), (1, 1.0)], *args)
    alone = train(tmp_path / "alone", *args, "--seed=0", "--objective.alpha=1.0", name="a1")
    assert_rows_equal(rows(Path(summaries[2]["run_dir"])), rows(alone))
    assert rows(Path(summaries[0]["run_dir"])) != rows(Path(summaries[2]["run_dir"]))


def test_members_may_differ_in_penalty_weight_but_not_in_whether_it_is_on(tmp_path):
    args = [*SHORT, "--stabilizers.r1.every=1"]
    w1, w3, off = (configs(tmp_path, [(0, 0.2)], *args, f"--stabilizers.r1.weight={w}")[0] for w in (1, 3, 0))
    assert pack([w1, w3, off]) == [[0, 1], [2]]
    summaries = stack(tmp_path / "b", [(0, 0.2)], *args, "--stabilizers.r1.weight=3")
    both = stack(tmp_path / "c", [(0, 0.2)], *args, "--stabilizers.r1.weight=1")
    assert rows(Path(summaries[0]["run_dir"])) != rows(Path(both[0]["run_dir"]))  # the weight acts


def test_settings_that_change_shapes_or_code_split_stacks(tmp_path):
    a = configs(tmp_path, [(0, 0.2)], *SHORT)[0]
    wide = configs(tmp_path, [(1, 0.2)], *SHORT, "--model.hidden=64")[0]
    other_lr = configs(tmp_path, [(2, 0.2)], *SHORT, "--train.lr=0.5")[0]
    assert pack([a, wide, other_lr, a]) == [[0, 3], [1], [2]]
    with pytest.raises(ValueError, match="may differ only in seed"):
        GanTrainer([a, wide], torch.device("cpu"))


def test_one_diverging_member_leaves_the_others_alone(tmp_path, monkeypatch):
    original = GanTrainer.advance

    def poison_member_1(self):
        original(self)
        if self.step == 15:  # member 1's D becomes NaN, as in test_train_cli
            with torch.no_grad():
                for p in self.D.stacked():
                    p[1].fill_(float("nan"))

    monkeypatch.setattr(GanTrainer, "advance", poison_member_1)
    s0, s1 = stack(tmp_path, [(0, 0.2), (1, 0.2)], *SHORT)
    assert s1["status"] == "diverged" and s1["diverged_at"] == 20
    assert [r["step"] for r in rows(Path(s1["run_dir"]))] == [10, 20]
    assert s0["status"] == "completed"
    monkeypatch.setattr(GanTrainer, "advance", original)
    assert_rows_equal(rows(Path(s0["run_dir"])), rows(train(tmp_path / "alone", *SHORT, "--seed=0")))


def test_ctrl_c_checkpoints_every_member_and_each_resumes_alone(tmp_path, monkeypatch):
    args = ["--device=cpu", "--metrics.image_every=0", *OBJECTIVES["mixup_paper"]]
    whole = stack(tmp_path / "whole", [(2, 0.2), (3, 0.2)], *args)  # the uninterrupted stack
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    cut = stack(tmp_path / "b", [(2, 0.2), (3, 0.2)], *args)
    assert [s["status"] for s in cut] == ["interrupted", "interrupted"]
    assert all(load_checkpoint(Path(s["run_dir"]) / CHECKPOINT)["step"] == 25 for s in cut)
    restore()
    for resumed, uninterrupted in zip(cut, whole):
        run = Path(resumed["run_dir"])
        assert main(["--resume", str(run), "--run.progress=false"]) == 0
        assert_rows_equal(rows(run), rows(Path(uninterrupted["run_dir"])))
    assert_rows_equal(rows(Path(cut[1]["run_dir"])), rows(train(tmp_path / "alone", *args, "--seed=3")))


KILL_AT_STEP_25 = """
import os, signal, sys
from mixgan.trainers.gan import GanTrainer
advance = GanTrainer.advance
def killed(self):  # kill -9 mid-run, five iterations after the step-20 checkpoint
    advance(self)
    if self.step == 25:
        os.kill(os.getpid(), signal.SIGKILL)
GanTrainer.advance = killed
from mixgan.train import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_stack_killed_and_resumed_gives_the_numbers_of_the_uninterrupted_stack(tmp_path):
    import signal
    import subprocess
    import sys

    args = [*TINY, *SHORT[:2], "--train.iterations=40", "--mixup", "--seeds", "0,1"]
    killed = subprocess.run([sys.executable, "-c", KILL_AT_STEP_25, *args, f"--run.dir={tmp_path}",
                             "--run.name=k"], capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert main([*args, f"--run.dir={tmp_path}", "--run.name=u"]) == 0  # the same stack, uninterrupted
    for seed in (0, 1):
        run = tmp_path / "k" / f"k-s{seed}"
        assert load_checkpoint(run / CHECKPOINT)["step"] == 20
        assert main(["--resume", str(run), "--run.progress=false"]) == 0
        assert_rows_equal(rows(run), rows(tmp_path / "u" / f"u-s{seed}"))


def test_a_crash_of_the_stack_fails_every_member_with_its_error(tmp_path, monkeypatch):
    def boom(self):
        raise RuntimeError("simulated crash of the shared step")

    monkeypatch.setattr(GanTrainer, "advance", boom)
    summaries = stack(tmp_path, [(0, 0.2), (1, 0.2)], *SHORT)
    for s in summaries:
        on_disk = json.loads((Path(s["run_dir"]) / "summary.json").read_text())
        assert on_disk["status"] == "failed" and "simulated crash" in on_disk["error"]


@pytest.mark.parametrize("n_in,n_out", [(2, 32), (32, 32), (32, 1), (5, 32), (64, 64)])
def test_stacked_linear_gives_each_member_f_linear(n_in, n_out):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, n_out, n_in, generator=g, requires_grad=True)
    b = torch.randn(3, n_out, generator=g, requires_grad=True)
    x = torch.randn(3, 128, n_in, generator=g, requires_grad=True)
    y = stacked_linear(x, W, b)
    grad = torch.randn(y.shape, generator=g)
    y.backward(grad)
    for s in range(3):
        Ws, bs, xs = (t.detach()[s].clone().requires_grad_() for t in (W, b, x))
        ys = F.linear(xs, Ws, bs)
        ys.backward(grad[s])
        torch.testing.assert_close(y[s].detach(), ys.detach())
        torch.testing.assert_close(W.grad[s], Ws.grad)
        torch.testing.assert_close(b.grad[s], bs.grad)
        torch.testing.assert_close(x.grad[s], xs.grad)


def test_seeds_cli_trains_one_stack_and_the_env_turns_it_off(tmp_path, monkeypatch):
    assert main([*TINY, *SHORT, f"--run.dir={tmp_path}", "--run.name=g", "--seeds", "0,1"]) == 0
    summaries = [json.loads((tmp_path / "g" / f"g-s{s}" / "summary.json").read_text()) for s in (0, 1)]
    assert [(s["status"], s["members_in_stack"]) for s in summaries] == [("completed", 2)] * 2
    monkeypatch.setenv("MIXGAN_STACK", "0")  # the way back to one seed after another
    assert main([*TINY, *SHORT, f"--run.dir={tmp_path}", "--run.name=h", "--seeds", "0,1"]) == 0
    alone = tmp_path / "h" / "h-s1"
    assert "members_in_stack" not in json.loads((alone / "summary.json").read_text())
    assert_rows_equal(rows(alone), rows(tmp_path / "g" / "g-s1"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stack_is_graph_captured_and_matches_runs_alone(tmp_path):
    # On CUDA bmm and mm are different kernels: equal to float tolerance over a short run.
    # IEEE fp32 (train.tf32=false): this checks the stacking, not TF32's rounding.
    from mixgan.trainers.cuda_graph import GraphedIteration

    args = [*OBJECTIVES["mixup_paper"], "--device=cuda", "--train.tf32=false", "--train.iterations=10",
            "--metrics.every=5"]
    cfgs = configs(tmp_path / "c", [(7, 0.2), (8, 0.2)], *args)
    t = GanTrainer(cfgs, torch.device("cuda"))
    for _ in range(4):
        t.advance()
    assert isinstance(t._fast, GraphedIteration) and t._fast.captured
    summaries = stack(tmp_path / "b", [(7, 0.2), (8, 0.2)], *args)
    alone = rows(train(tmp_path / "alone", *args, "--seed=7"))
    for got, want in zip(rows(Path(summaries[0]["run_dir"])), alone):
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-3, abs=1e-4), k


def test_an_interrupted_stack_resumes_as_one_stack_to_the_uninterrupted_numbers(tmp_path, monkeypatch):
    # python -m mixgan.experiments.stacks --resume DIR ...: the members stand at one step, each loads its
    # own checkpoint, and the stack trains on: every member's rows equal the uninterrupted stack's.
    from mixgan.experiments.stacks import main as stacks_main

    args = ["--device=cpu", "--metrics.image_every=0", *OBJECTIVES["mixup_paper"]]
    whole = stack(tmp_path / "whole", [(2, 0.2), (3, 0.2)], *args)
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    cut = stack(tmp_path / "b", [(2, 0.2), (3, 0.2)], *args)
    restore()
    dirs = [s["run_dir"] for s in cut]
    assert stacks_main(["--resume", *dirs]) == 0
    for resumed, uninterrupted in zip(dirs, whole):
        assert_rows_equal(rows(Path(resumed)), rows(Path(uninterrupted["run_dir"])))


def test_a_stack_resumed_with_more_iterations_equals_the_longer_stack_and_bad_keys_are_one_line(
        tmp_path, capsys):
    # --resume DIR ... --train.iterations=N extends every member, as `mixgan.train --resume` extends a
    # run alone; a key a resume cannot change, a shorter length, a dir without checkpoint: one line, 2.
    from mixgan.experiments.stacks import main as stacks_main

    args = ["--device=cpu", "--metrics.image_every=0", *OBJECTIVES["mixup_demo"]]
    longer = stack(tmp_path / "long", [(4, 0.2), (5, 0.2)], *args, "--train.iterations=40")
    short = [s["run_dir"] for s in stack(tmp_path / "short", [(4, 0.2), (5, 0.2)], *args)]
    for bad, says in ((["--objective.alpha=0.5"], "objective.alpha cannot change"),
                      (["--train.iterations=10"], "a resume can only extend"),
                      ([str(tmp_path)], "has no checkpoint.pt")):
        assert stacks_main(["--resume", *short, *bad]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert stacks_main(["--resume", *short, "--train.iterations=40"]) == 0
    for extended, whole in zip(short, longer):
        assert_rows_equal(rows(Path(extended)), rows(Path(whole["run_dir"])))


@pytest.mark.parametrize("sizes,workers,want", [
    ([10, 10, 10], 2, [10, 10, 5, 5]),  # the last row fills the second core
    ([10, 10], 2, [10, 10]),  # full rounds: nothing to split
    ([10], 4, [2, 3, 2, 3]),  # one row over four workers, near-equal parts
    ([8, 3, 1], 4, [4, 4, 3, 1]),  # the largest stack splits first; a single run cannot
    ([1, 1, 1], 2, [1, 1, 1]),  # runs alone (--no-stack): nothing to split
    ([6, 6, 6], 1, [6, 6, 6]),  # one worker
])
def test_balance_splits_the_last_round_to_fill_every_worker(sizes, workers, want):
    from mixgan.experiments.stacks import balance

    groups, k = [], 0
    for n in sizes:
        groups.append(list(range(k, k + n)))
        k += n
    got = balance(groups, workers)
    assert [len(g) for g in got] == want
    assert [i for g in got for i in g] == list(range(k))  # every run once, in order, parts contiguous
