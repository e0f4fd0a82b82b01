"""The main job end to end, through the CLI: outputs, determinism, resume, bad input, divergence."""

import json
import subprocess
import sys

import pytest
import torch

from mixgan.rundir.checkpoint import CHECKPOINT
from mixgan.train import main
from mixgan.trainers.gan import GanTrainer

from runhelp import TINY, ctrl_c_at, poison_at, rows, train

STABILITY = ["loss/D", "loss/G", "stability/D_real", "stability/D_fake", "stability/grad_norm_D",
             "stability/grad_norm_G", "stability/grad_input_real", "stability/grad_input_fake",
             "stability/grad_input_mixed"]
QUALITY = ["quality/modes", "quality/high_quality", "quality/reverse_kl"]


def test_run_writes_tensorboard_jsonl_summary(tmp_path):
    run = train(tmp_path, "--mixup")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert set(STABILITY + QUALITY) <= tags
    assert "samples" in acc.Tags()["images"]
    assert [e.step for e in acc.Scalars("quality/modes")] == [10, 20, 30, 40]
    lines = rows(run)
    assert [r["step"] for r in lines] == [10, 20, 30, 40]
    assert set(STABILITY + QUALITY) <= set(lines[0])  # same names in jsonl and TensorBoard
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 40
    assert summary["final"]["quality/modes"] == lines[-1]["quality/modes"]
    assert summary["versions"]["torch"] == torch.__version__
    assert (run / "config.yaml").exists() and (run / CHECKPOINT).exists()


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    a = rows(train(tmp_path, "--seed=3", name="a"))
    b = rows(train(tmp_path, "--seed=3", name="b"))
    c = rows(train(tmp_path, "--seed=4", name="c"))
    assert a == b
    assert a != c


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    full = rows(train(tmp_path, "--mixup", "--objective.lam=beta", name="full"))
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    code = main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut", "--mixup", "--objective.lam=beta"])
    assert code == 130
    cut = tmp_path / "cut"
    assert json.loads((cut / "summary.json").read_text())["status"] == "interrupted"
    assert [r["step"] for r in rows(cut)] == [10, 20]
    restore()
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == full
    assert json.loads((cut / "summary.json").read_text())["status"] == "completed"


def test_a_run_extended_past_a_last_step_off_the_cadence_equals_the_longer_run(tmp_path):
    # issue 33: 25 iterations (measured every 10, so its last row is off the cadence) extended to 40
    # have the rows of a 40-iteration run: no row at 25, and the row at 30 averages iterations 21-30
    full = rows(train(tmp_path, "--mixup", name="full"))
    short = train(tmp_path, "--mixup", "--train.iterations=25", name="short")
    assert [r["step"] for r in rows(short)] == [10, 20, 25]
    assert main(["--resume", str(short), "--train.iterations=40", "--run.progress=false"]) == 0
    assert rows(short) == full


def test_forced_nan_gives_status_diverged(tmp_path, monkeypatch):
    poison_at(monkeypatch, GanTrainer, 15, lambda t: t.D.parameters())
    run = train(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 20
    assert [r["step"] for r in rows(run)] == [10, 20]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mixgan.train", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


BAD_INPUTS = [
    (["--objective.alpha=0"], "objective.alpha"),
    (["--objective.alpha=-1"], "objective.alpha"),
    (["--train.iterations=0"], "train.iterations"),
    (["--data.name=spiral"], "data.name"),
    (["--objective.name=wgan"], "objective.name"),
    (["--train.batchsize=3"], "unknown config key train.batchsize"),
    (["--train.iterations=ten"], "train.iterations: expected int"),
    (["--config=nope.yaml"], "config file not found"),
    (["--task=draw"], "unknown task"),
    (["stray"], "unexpected argument"),
    (["--seed=x"], "--seed"),
]


@pytest.mark.parametrize("args,fragment", BAD_INPUTS)
def test_bad_input_exit_2_one_line_no_run_dir(tmp_path, capsys, args, fragment):
    assert main([f"--run.dir={tmp_path / 'runs'}", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_bad_input_from_a_real_process(tmp_path):
    # The same path through the interpreter: exit status 2, one line on stderr, no traceback.
    res = cli(f"--run.dir={tmp_path / 'runs'}", "--objective.alpha=0")
    assert res.returncode == 2 and "objective.alpha" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "runs").exists()


def test_corrupted_checkpoint_is_a_clear_error(tmp_path, capsys):
    run = train(tmp_path)
    ckpt = run / CHECKPOINT
    before = sorted(p.name for p in run.iterdir())
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupted" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == before
    assert main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("tamper", ["no_G", "wrong_shape", "config_not_a_mapping", "step_not_a_number"])
def test_checkpoint_that_does_not_fit_is_a_one_line_error(tmp_path, capsys, tamper):
    # A well-formed file whose contents do not fit the trainer (edited, another version): exit 2,
    # one line naming the checkpoint, and the run dir left as it was.
    run = train(tmp_path)
    ckpt = run / CHECKPOINT
    state = torch.load(ckpt, weights_only=True)
    if tamper == "no_G":
        del state["trainer"]["G"]
    elif tamper == "wrong_shape":
        state["trainer"]["D"]["0.weight"] = torch.zeros(3, 3)
    elif tamper == "config_not_a_mapping":
        state["config"] = ["gan"]
    else:
        state["step"] = "forty"
    torch.save(state, ckpt)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    assert main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(ckpt) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_existing_run_dir_is_never_overwritten(tmp_path):
    train(tmp_path, name="same")
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=same"]) == 2
    # Without a name, runs get unique dirs next to each other.
    assert main([*TINY, f"--run.dir={tmp_path}"]) == 0
    assert main([*TINY, f"--run.dir={tmp_path}"]) == 0
    assert {"grid25-erm-s0", "grid25-erm-s0-2"} <= {p.name for p in tmp_path.iterdir()}


def test_run_name_cannot_escape_the_runs_dir(tmp_path):
    runs = tmp_path / "runs"
    assert main([*TINY, f"--run.dir={runs}", "--run.name=../../escape"]) == 0
    assert (runs / "escape").is_dir() and not (tmp_path / "escape").exists()


def test_resume_rejects_changing_the_objective(tmp_path):
    run = train(tmp_path)
    assert main(["--resume", str(run), "--objective.name=mixup"]) == 2


def test_the_first_line_says_where_the_run_trains(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train(tmp_path, "--run.progress=true", "--train.iterations=10", name="where")
    first = capsys.readouterr().out.splitlines()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = torch.get_num_threads()
    assert first == (f"where: training on the CPU: {threads} thread{'s' * (threads != 1)} of {cores} "
                     f"core{'s' * (cores != 1)} (OMP_NUM_THREADS=1)")
