"""Faults that used to lose a run (issue 22, item 6): a disk full before the run starts, Ctrl-C twice
before the first checkpoint, Ctrl-C twice while a checkpoint is written. Each ends in one line, the
right exit code, and a run dir that resumes to the numbers of an uninterrupted run (or none at all).
The stacked runs killed with `kill -9` are in tests/test_stacks.py."""

import errno
import json
import os
import signal

import pytest

import mixgan.trainers.loop as loop
from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import main
from mixgan.trainers.gan import GanTrainer

from runhelp import TINY, rows, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def status(run):
    return json.loads((run / "summary.json").read_text())["status"]


def assert_one_line(capsys, fragment):
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_disk_full_before_the_run_starts_is_one_line_and_leaves_no_run_dir(tmp_path, monkeypatch, capsys):
    import mixgan.experiments.run as run_mod  # where run_one saves the config

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_mod, "save_config", full)
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=r"]) == 1
    assert_one_line(capsys, "No space left on device")
    assert not (tmp_path / "r").exists()


def ctrl_c_twice_at(monkeypatch, step):
    original = GanTrainer.advance

    def twice(self):
        original(self)
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second: stop now

    monkeypatch.setattr(GanTrainer, "advance", twice)
    return lambda: monkeypatch.setattr(GanTrainer, "advance", original)


def test_ctrl_c_twice_before_the_first_checkpoint_resumes_from_step_0(tmp_path, monkeypatch, capsys):
    whole = rows(train(tmp_path, name="whole"))
    restore = ctrl_c_twice_at(monkeypatch, 5)  # the first checkpoint is at step 20
    capsys.readouterr()
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut"]) == 130
    assert "Traceback" not in capsys.readouterr().err
    cut = tmp_path / "cut"
    assert status(cut) == "interrupted" and not (cut / CHECKPOINT).exists()
    restore()
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == whole and status(cut) == "completed"


def test_a_completed_run_without_its_checkpoint_is_not_trained_again(tmp_path, capsys):
    run = train(tmp_path)
    (run / CHECKPOINT).unlink()
    capsys.readouterr()
    assert main(["--resume", str(run)]) == 2
    assert_one_line(capsys, "no checkpoint")


@pytest.mark.parametrize("at", [20, 25])  # a periodic checkpoint; the one a first Ctrl-C asks for
def test_ctrl_c_twice_during_a_checkpoint_write_ends_interrupted_with_the_checkpoint(tmp_path, monkeypatch,
                                                                                    capsys, at):
    whole = rows(train(tmp_path, name="whole"))
    advance, save = GanTrainer.advance, loop.save_checkpoint

    def first_ctrl_c_at_25(self):
        advance(self)
        if at == 25 and self.step == 25:
            os.kill(os.getpid(), signal.SIGINT)

    def interrupted_write(payload, path):  # Ctrl-C while the file is written: twice at 20, the second at 25
        if payload["step"] == at:
            for _ in range(2 if at == 20 else 1):
                os.kill(os.getpid(), signal.SIGINT)
        save(payload, path)

    monkeypatch.setattr(GanTrainer, "advance", first_ctrl_c_at_25)
    monkeypatch.setattr(loop, "save_checkpoint", interrupted_write)
    capsys.readouterr()
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut"]) == 130
    assert "Traceback" not in capsys.readouterr().err
    cut = tmp_path / "cut"
    assert status(cut) == "interrupted" and load_checkpoint(cut / CHECKPOINT)["step"] == at
    monkeypatch.setattr(GanTrainer, "advance", advance)
    monkeypatch.setattr(loop, "save_checkpoint", save)
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == whole


@pytest.mark.parametrize("signame,code", [("SIGTERM", 143), ("SIGUSR1", 138)])
def test_a_schedulers_signal_checkpoints_and_resumes_like_ctrl_c(tmp_path, monkeypatch, capsys, signame,
                                                                  code):
    # Slurm, Kubernetes and `docker stop` send SIGTERM (or a --signal of the job's choice) before they
    # kill a job: the iteration ends, a checkpoint is written, the run says it was stopped, and resuming
    # it gives the uninterrupted run's rows.
    whole = rows(train(tmp_path, name="whole"))
    advance = GanTrainer.advance

    def signal_at_25(self):
        advance(self)
        if self.step == 25:
            os.kill(os.getpid(), getattr(signal, signame))

    monkeypatch.setattr(GanTrainer, "advance", signal_at_25)
    capsys.readouterr()
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut"]) == code
    assert "Traceback" not in capsys.readouterr().err
    cut = tmp_path / "cut"
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["stop_signal"] == signame
    assert load_checkpoint(cut / CHECKPOINT)["step"] == 25
    monkeypatch.setattr(GanTrainer, "advance", advance)
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == whole


@pytest.mark.parametrize("where", ["close", "summary"])
def test_a_second_ctrl_c_at_the_end_of_a_run_waits_for_its_summary(tmp_path, monkeypatch, capsys, where):
    # Ctrl-C twice while the finished run closes its logger or writes its summary: no traceback, and the
    # run's end is written whole (the signals wait for the writes).
    original = loop.Member.close if where == "close" else loop.write_summary

    def with_two_signals(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop.Member if where == "close" else loop, "close" if where == "close" else
                        "write_summary", with_two_signals)
    capsys.readouterr()
    code = main([*TINY, f"--run.dir={tmp_path}", "--run.name=r"])
    assert "Traceback" not in capsys.readouterr().err
    assert code == 0 and status(tmp_path / "r") == "completed"


@pytest.mark.parametrize("args,fragment", [
    (["--seed", "1", "--seed", "2"], "--seed: given twice"),
    (["--config", "configs/gan/default.yaml", "--config", "configs/gan/grid25_fig5.yaml"],
     "--config: given twice"),
    (["--seed", "\u0663"], "the digits 0-9"),  # ARABIC-INDIC DIGIT THREE: int() reads it, a seed must not
    (["--seeds", "\u0663-\u0665"], "--seeds: cannot read"),
])
def test_repeated_flags_and_non_ascii_seeds_are_one_line(tmp_path, capsys, args, fragment):
    assert main([*args, f"--run.dir={tmp_path}"]) == 2
    assert_one_line(capsys, fragment)
    assert not list(tmp_path.iterdir())
