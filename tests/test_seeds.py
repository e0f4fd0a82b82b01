"""`--seeds`: seed lists, one run dir per seed under a group dir, a failing seed never stops the others."""

import json
import os

import pytest
import yaml

import mixgan.experiments.seeds as seeds_mod
from mixgan.compare import compare
from mixgan.config.core import load_config
from mixgan.errors import ConfigError
from mixgan.experiments.seeds import parse_seeds
from mixgan.train import main
from mixgan.trainers.gan import GanTrainer

from runhelp import TINY, rows, train


@pytest.mark.parametrize("seeds", [[0, 1, 2, 3], [5, 9], [0, 3, 7], [4]])
def test_seed_list_reads_back_as_the_seeds(seeds):
    assert seeds_mod.parse_seeds(seeds_mod.seed_list(seeds)) == seeds


@pytest.mark.parametrize("text,expected", [
    ("0-9", list(range(10))), ("0,3,7", [0, 3, 7]), ("0-3,8", [0, 1, 2, 3, 8]), ("5", [5]),
    ("3,1,1-2", [1, 2, 3]), (" 2 - 4 ", [2, 3, 4]),
])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3-1", "-2", "1-", "0,,2", "1.5"])
def test_parse_seeds_rejects(text):
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds(text)


SHORT = ["--train.iterations=20", "--metrics.image_every=0"]  # pictures only at the end


def seeds_cli(tmp_path, *args):
    return main([*TINY, *SHORT, f"--run.dir={tmp_path}", *args])


def test_one_run_dir_per_seed_same_numbers_as_single_runs(tmp_path, capsys):
    assert seeds_cli(tmp_path / "g", "--mixup", "--seeds", "0,2") == 0
    group = tmp_path / "g" / "grid25-mixup"
    assert sorted(p.name for p in group.iterdir()) == ["grid25-mixup-s0", "grid25-mixup-s2", "seeds.json"]
    cfg = yaml.safe_load((group / "grid25-mixup-s2" / "config.yaml").read_text())
    assert cfg["seed"] == 2 and cfg["objective"]["name"] == "mixup"
    # A seed of the group (a member of one stack) gives the numbers of the same seed run alone.
    for got, want in zip(rows(group / "grid25-mixup-s2"), rows(train(tmp_path / "one", *SHORT, "--mixup",
                                                                        "--seed=2"))):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4)
    out = capsys.readouterr().out
    assert "group " in out and "2 completed" in out and "python -m mixgan.compare" in out
    recorded = json.loads((group / "seeds.json").read_text())
    assert [(r["seed"], r["status"]) for r in recorded["runs"]] == [(0, "completed"), (2, "completed")]
    # The group dir is never reused: a second group of the same config goes to grid25-mixup-2.
    cfg = load_config(None, [("objective.name", "mixup"), ("run.dir", str(tmp_path / "g"))])
    again, (run,) = seeds_mod.plan_runs(cfg, [1])
    assert again.name == "grid25-mixup-2" and run.run_dir == again / "grid25-mixup-s1"


def test_a_failing_seed_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIXGAN_STACK", "0")  # one seed after another, so one can crash alone
    original = GanTrainer.advance

    def boom(self):
        if self.cfg.seed == 1 and self.step == 15:
            raise RuntimeError("simulated crash in seed 1")
        original(self)

    monkeypatch.setattr(GanTrainer, "advance", boom)
    assert seeds_cli(tmp_path, "--seeds", "0-2", "--run.name=grp") == 1  # 1: a seed failed
    group = tmp_path / "grp"
    status = {p.name: json.loads((p / "summary.json").read_text())["status"] for p in group.glob("grp-s*")}
    assert status == {"grp-s0": "completed", "grp-s1": "failed", "grp-s2": "completed"}
    failed = json.loads((group / "grp-s1" / "summary.json").read_text())
    assert "simulated crash in seed 1" in failed["error"]
    table = capsys.readouterr().out
    assert "RuntimeError: simulated crash in seed 1" in table
    # compare counts the failed seed without using its numbers
    _, (row,), text = compare([group], tmp_path / "cmp", plots=False)
    assert row["seeds"] == 3 and row["unfinished"] == 1 and row["modes"]["n"] == 2


def test_parallel_jobs_and_a_dead_seed(tmp_path, monkeypatch, capfd):
    # --jobs 2: two worker processes, each one stack of contiguous seeds (0-1 and 2-3). Seed 1's run dir
    # is blocked by a file: it fails, and seed 0 trains alone in its stack; seeds 2 and 3 as a stack of 2.
    original = seeds_mod.plan_runs

    def plan_with_obstacle(cfg, seeds):
        group, runs = original(cfg, seeds)
        runs[1].run_dir.write_text("in the way")
        return group, runs

    monkeypatch.setattr(seeds_mod, "plan_runs", plan_with_obstacle)
    assert seeds_cli(tmp_path, "--seeds", "0-3", "--jobs", "2", "--run.name=par") == 1
    recorded = json.loads((tmp_path / "par" / "seeds.json").read_text())
    assert [(r["seed"], r["status"], r["stack_members"]) for r in recorded["runs"]] == \
        [(0, "completed", 1), (1, "failed", 1), (2, "completed", 2), (3, "completed", 2)]
    assert "already exists" in recorded["runs"][1]["error"]
    assert json.loads((tmp_path / "par" / "par-s0" / "summary.json").read_text())["step"] == 20
    out = capfd.readouterr().out  # the workers' own stdout: each stack's line
    share = max(1, (os.cpu_count() or 1) // 2)  # 2 jobs on this machine's cores, at least 1 thread each
    for seeds in ("0", "2,3"):
        assert f"== seeds {seeds} as one stack, {share} thread" in out
    # A member of a worker's stack gives the numbers of the same seed run in this process with as many
    # threads: a BLAS may split its sums differently over another number of threads (docs/design.md,
    # "Randomness").
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(share)
    try:
        one = train(tmp_path / "one", *SHORT, "--seed=3")
    finally:
        torch.set_num_threads(threads)
    assert rows(tmp_path / "par" / "par-s3") == rows(one)


@pytest.mark.parametrize("args,fragment", [
    (["--seeds", "x"], "--seeds"),
    (["--seeds", "2-1"], "--seeds"),
    (["--seeds", "0-1", "--seed", "3"], "--seeds: cannot be combined"),
    (["--jobs", "2"], "--jobs: only applies with --seeds"),
    (["--seeds", "0-1", "--jobs", "0"], "--jobs"),
    (["--seeds", "0-1", "--train.iterations=0"], "train.iterations"),
])
def test_bad_seeds_input_exit_2_nothing_written(tmp_path, capsys, args, fragment):
    assert seeds_cli(tmp_path / "runs", *args) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
