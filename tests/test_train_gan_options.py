"""train_gan's EMA of G, its G/D learning rates and its Ctrl-C (issue 33, item 6): the EMA equals the
formula on the run's own weights and is scored as quality_ema/* without changing any other number; a
pair of equal rates is the single rate bit for bit and D's rate alone moves D; a Ctrl-C (a real SIGINT)
inside a `for seed in ...` loop raises KeyboardInterrupt after the checkpoint and summary are written,
so the next seed never starts, and the resume equals the uninterrupted run, EMA included."""

import json
import os
import signal

import pytest
import torch
from torch import nn

import mixgan
from mixgan.errors import ConfigError


def G():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def D():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))


def run(root, **kw):
    args = dict(G=G, D=D, data="grid25", steps=4, batch_size=16, dir=root, metrics_every=2, image_every=-1,
                checkpoint_every=2, progress=False)
    return mixgan.train_gan(**{**args, **kw})


def trained(root, name):
    return torch.load(root / name / "checkpoint.pt", weights_only=True)["trainer"]


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_ema_is_the_formula_on_the_runs_weights_and_changes_nothing_else(tmp_path):
    d = 0.6
    for steps in (1, 2):
        run(tmp_path, steps=steps, ema=d, name=f"ema{steps}")
    plain = run(tmp_path, steps=2, name="plain")
    torch.manual_seed(0)
    ema = G().state_dict()  # the initial weights: seed, then G first
    for steps in (1, 2):  # ema_t = d·ema_{t−1} + (1 − d)·θ_t, θ_t the weights after step t
        theta = trained(tmp_path, f"ema{steps}")["G"]
        ema = {k: d * ema[k] + (1 - d) * theta[k] for k in ema}
        got = trained(tmp_path, f"ema{steps}")["G_ema"]
        assert all(torch.allclose(got[k], ema[k], atol=1e-7, rtol=1e-6) for k in ema)
    final = json.loads((tmp_path / "ema2" / "summary.json").read_text())["final"]
    assert {"quality_ema/modes", "quality_ema/density", "quality_ema/coverage"} <= set(final)
    # measured after G's draws: every other number is the run's without EMA
    assert {k: v for k, v in final.items() if not k.startswith("quality_ema/")} == plain["final"]
    assert "quality_ema/coverage" not in plain["final"]
    import yaml

    train = {n: yaml.safe_load((tmp_path / n / "config.yaml").read_text())["train"]
             for n in ("ema2", "plain")}
    assert train["ema2"]["ema"] == 0.6 and "ema" not in train["plain"]  # absent when off: old runs resume


def test_separate_rates_move_g_and_d_each_by_its_own(tmp_path):
    same = run(tmp_path, steps=2, lr=(3e-4, 3e-4), name="pair")
    one = run(tmp_path, steps=2, lr=3e-4, name="one")
    assert same["final"] == one["final"]  # a pair of equal rates is the one rate, bit for bit
    assert "lr: 0.0003\n" in (tmp_path / "pair" / "config.yaml").read_text()
    run(tmp_path, steps=1, lr=(1e-2, 3e-4), name="ttur")
    run(tmp_path, steps=1, lr=(1e-2, 1e-2), name="fast")
    run(tmp_path, steps=1, lr=3e-4, name="slow")
    ttur, fast, slow = (trained(tmp_path, n) for n in ("ttur", "fast", "slow"))
    # one iteration: D steps first (with D's rate), then G's step (with G's rate)
    assert all(torch.equal(ttur["D"][k], slow["D"][k]) for k in slow["D"])
    assert not all(torch.equal(ttur["D"][k], fast["D"][k]) for k in fast["D"])
    assert not all(torch.equal(ttur["G"][k], slow["G"][k]) for k in slow["G"])
    assert "lr:\n  - 0.01\n  - 0.0003" in (tmp_path / "ttur" / "config.yaml").read_text()


@pytest.mark.parametrize("kw, match", [
    ({"lr": (1e-3,)}, r"lr=\(0.001,\)\); accepted: a number > 0 for G and D, or a pair"),
    ({"lr": (1e-3, 0)}, r"lr=\(0.001, 0\)"), ({"lr": "1e-3"}, "lr='1e-3'"), ({"lr": True}, "lr=True"),
    ({"ema": 1.0}, r"ema=1.0\); accepted: a decay in \[0, 1\)"), ({"ema": -0.1}, "ema=-0.1"),
    ({"ema": True}, "ema=True")])
def test_bad_rates_and_decays_are_one_line_before_any_run_dir(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        run(tmp_path / "runs", **kw)
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_in_a_loop_of_seeds_stops_the_loop_and_resumes_exactly(tmp_path):
    started: list[int] = []

    def ctrl_c_at_3_of_seed_1(g, step):
        if step == 3 and started and started[-1] == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, during iteration 3's measurement
        return {}

    kw = dict(steps=6, ema=0.5, lr=(2e-4, 4e-4), metrics_every=1, evaluate=ctrl_c_at_3_of_seed_1)
    whole = run(tmp_path / "whole", name="s1", seed=1, **kw)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted at step 3; continue it with resume="):
        for seed in (0, 1, 2):
            started.append(seed)
            run(tmp_path / "cut", name=f"s{seed}", seed=seed, **kw)
    assert started == [0, 1]  # seed 2 never started
    cut = tmp_path / "cut" / "s1"
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["stop_signal"] == "SIGINT"
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["step"] == 3
    started.clear()
    done = run(tmp_path / "cut", name="s1", seed=1, resume=cut, **kw)
    assert done["status"] == "completed" and done["final"] == whole["final"]
    assert rows(cut) == rows(tmp_path / "whole" / "s1")
    a, b = trained(tmp_path / "whole", "s1"), trained(tmp_path / "cut", "s1")
    assert all(torch.equal(a["G_ema"][k], b["G_ema"][k]) for k in a["G_ema"])


def test_a_schedulers_sigterm_exits_with_its_code(tmp_path):
    def sigterm(g, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return {}

    with pytest.raises(SystemExit) as stop:
        run(tmp_path, name="r", evaluate=sigterm)
    assert stop.value.code == 128 + signal.SIGTERM
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["stop_signal"] == "SIGTERM"
