"""Resume and crash paths that must lose nothing (issue 17): a finished run resumed, two resumes at
once, a foreign checkpoint, a torn metrics row and a full disk, non-finite weights, huge seed counts,
orphan temp files. Each ends with the summaries' final metrics kept, each step once in
metrics.jsonl, and the run dir resumable or refused in one line."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mixgan.rundir.checkpoint import CHECKPOINT
from mixgan.train import main

from runhelp import TINY, rows, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def summary(run):
    return json.loads((run / "summary.json").read_text())


def one_line_error(capsys, fragment):
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_resuming_a_finished_run_rebuilds_its_summary_never_empties_it(tmp_path, capsys):
    run = train(tmp_path)
    done, metrics = summary(run), rows(run)
    assert done["status"] == "completed" and done["final"]
    # Summary deleted, or cut off mid-write: the resume rebuilds it from the checkpoint and the last row.
    for damage in ("delete", "truncate"):
        if damage == "delete":
            (run / "summary.json").unlink()
        else:
            (run / "summary.json").write_text(json.dumps(done)[:50])
        assert main(["--resume", str(run), "--run.progress=false"]) == 0
        again = summary(run)
        assert again["final"] == done["final"] and again["status"] == "completed"
        assert (again["step"], again["total"]) == (40, 40)
        assert rows(run) == metrics  # each step once, nothing measured again
    capsys.readouterr()
    # Lowering the total below the run's own is bad input: one line, nothing written.
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    assert main(["--resume", str(run), "--train.iterations=20"]) == 2
    one_line_error(capsys, "train.iterations: got 20, below the run's 40")
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    # Without the last step's row the summary cannot be rebuilt: refused in one line, summary kept.
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics[:-1]))
    assert main(["--resume", str(run)]) == 2
    one_line_error(capsys, "has no row of that step")
    assert summary(run)["final"] == done["final"]


def cli(*args):
    return subprocess.Popen([sys.executable, "-m", "mixgan.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


SHORT = ["--model.hidden=16", "--train.batch_size=16", "--train.d_steps=1", "--metrics.every=10",
         "--metrics.image_every=0", "--metrics.n_samples=100", "--run.progress=false",
         "--run.checkpoint_every=20"]


def test_a_second_resume_of_a_run_in_training_is_refused(tmp_path):
    run = train(tmp_path, *SHORT)  # 40 iterations
    first = cli("--resume", str(run), "--train.iterations=400")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None and max(r["step"] for r in rows(run)) <= 40:
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGSTOP)  # held mid-training, its lock held: no race with the second
        second = cli("--resume", str(run), "--train.iterations=400")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "being trained by another process" in err, err
        assert len(err.strip().splitlines()) == 1
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    steps = [r["step"] for r in rows(run)]
    assert steps == list(range(10, 401, 10))  # each step once
    assert summary(run)["final"] == {k: v for k, v in rows(run)[-1].items() if k != "step"}
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # the fresh run's and one resume's


def test_a_checkpoint_from_another_run_is_refused_and_the_run_kept(tmp_path, capsys):
    gan = train(tmp_path, *SHORT, "--run.checkpoint_every=20", name="gan")
    iris = ["--task=classify", "--data.name=iris", "--model.name=mlp", "--model.hidden=8",
            "--train.epochs=2", "--run.progress=false"]
    assert main([*iris, f"--run.dir={tmp_path}", "--run.name=iris"]) == 0
    own = (gan / CHECKPOINT).read_bytes()
    (gan / CHECKPOINT).write_bytes((tmp_path / "iris" / CHECKPOINT).read_bytes())
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in gan.iterdir()}
    assert main(["--resume", str(gan)]) == 2
    one_line_error(capsys, "it has task='classify' but")
    assert {p.name: p.stat().st_mtime_ns for p in gan.iterdir()} == before
    # Another seed's checkpoint of the same experiment is another run's too.
    other = train(tmp_path, *SHORT, "--seed=1", name="other")
    (gan / CHECKPOINT).write_bytes((other / CHECKPOINT).read_bytes())
    capsys.readouterr()
    assert main(["--resume", str(gan)]) == 2
    one_line_error(capsys, "it has run.name='other'")
    # Its own checkpoint back: resumable (extended), every step once.
    (gan / CHECKPOINT).write_bytes(own)
    assert main(["--resume", str(gan), "--train.iterations=60"]) == 0
    assert [r["step"] for r in rows(gan)] == [10, 20, 30, 40, 50, 60]


class FullDisk:
    """A file whose write number `cut` writes half its text and then fails as a full disk does."""

    def __init__(self, f, cut):
        self.f, self.cut, self.n = f, cut, 0

    def write(self, text):
        self.n += 1
        if self.n == self.cut:
            self.f.write(text[:len(text) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(text)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_disk_full_mid_row_is_one_line_failed_and_the_torn_row_dropped_on_resume(tmp_path, monkeypatch,
                                                                                 capsys):
    from mixgan.rundir.logger import RunLogger, read_metrics

    full = rows(train(tmp_path, name="full"))
    opened = RunLogger.__init__

    def full_disk_at_row_3(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self._file = FullDisk(self._file, cut=3)

    monkeypatch.setattr(RunLogger, "__init__", full_disk_at_row_3)
    capsys.readouterr()
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut"]) == 1
    one_line_error(capsys, "No space left on device")
    cut = tmp_path / "cut"
    assert summary(cut)["status"] == "failed" and "No space left" in summary(cut)["error"]
    text = (cut / "metrics.jsonl").read_text()
    assert not text.endswith("\n")  # a torn last row, as a full disk leaves it
    assert [r["step"] for r in read_metrics(cut)] == [10, 20]  # readers (compare) drop it, with a warning
    assert "cut off" in capsys.readouterr().err
    monkeypatch.setattr(RunLogger, "__init__", opened)
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0  # from step 20, the torn row dropped
    assert rows(cut) == full and summary(cut)["status"] == "completed"


def test_tensorboard_writer_error_on_a_full_disk_is_one_line_not_a_thread_traceback(tmp_path, monkeypatch,
                                                                                    capsys):
    from tensorboard.summary.writer.record_writer import RecordWriter

    written, original = [], RecordWriter.write

    def write(self, data):  # the event thread: steps 10 and 20 fit (36 events), then the disk is full
        written.append(len(data))
        if len(written) > 36:  # 4 header events + 2 rows of 16 scalars
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(RecordWriter, "write", write)
    code = main([*TINY, f"--run.dir={tmp_path}", "--run.name=tb"])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and len(err.strip().splitlines()) == 1, err
    run = tmp_path / "tb"
    assert summary(run)["status"] == "failed"
    monkeypatch.setattr(RecordWriter, "write", original)
    assert main(["--resume", str(run), "--run.progress=false"]) == 0  # from its step-20 checkpoint
    assert [r["step"] for r in rows(run)] == [10, 20, 30, 40]


def test_no_checkpoint_is_written_with_non_finite_weights(tmp_path, monkeypatch):
    from mixgan.rundir.checkpoint import load_checkpoint
    from mixgan.trainers.gan import GanTrainer

    from runhelp import poison_at

    # Two members; member 1's D turns NaN at step 4, between the checkpoints (every 3) and the
    # measurement (every 10) that sees it.
    poison_at(monkeypatch, GanTrainer, 4, lambda t: [p[-1] for p in t.D.parameters()])
    group = train(tmp_path, "--seeds=0,1", "--run.checkpoint_every=3")
    ok, bad = group / "run-s0", group / "run-s1"
    assert summary(ok)["status"] == "completed" and summary(bad)["diverged_at"] == 10
    assert load_checkpoint(ok / CHECKPOINT)["step"] == 40
    state = load_checkpoint(bad / CHECKPOINT)
    assert state["step"] == 3  # the last good one: not 6 or 9, whose weights were NaN
    tensors = [t for part in ("G", "D", "opt_G", "opt_D") for t in flat_tensors(state["trainer"][part])]
    assert len(tensors) >= 16 and all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())
    # Resumable: alone now (its D is p[-1] again), it trains from step 3 and diverges where it did.
    assert main(["--resume", str(bad), "--run.progress=false"]) == 0
    assert [r["step"] for r in rows(bad)] == [10] and summary(bad)["diverged_at"] == 10


def flat_tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else []
    return [t for v in items for t in flat_tensors(v)]


def test_seed_counts_above_the_limit_are_refused_before_anything_is_written(tmp_path, capsys):
    from mixgan.ablate import main as ablate
    from mixgan.experiments.seeds import MAX_SEEDS, parse_seeds

    assert MAX_SEEDS == 10_000 and len(parse_seeds("0-9999")) == MAX_SEEDS
    for seeds in ("0-100000", "0-5000,6000-12000", "0-99999999999999"):
        assert main([f"--run.dir={tmp_path / 'runs'}", f"--seeds={seeds}"]) == 2
        one_line_error(capsys, "accepted: at most 10,000")
    assert not (tmp_path / "runs").exists()
    # A sweep: too many seeds, or too many runs in all, is refused before planning; at the limit the
    # plan is printed (the run count first) and nothing is written.
    base = "base: configs/gan/default.yaml\nmetrics: [quality/modes]\n"
    for body, fragment in [("variants: {erm: {}}\nseeds: '0-100000'", "more than 10,000 seeds"),
                           ("variants: {erm: {}}\nseeds: " + str(list(range(10_001))), "more than 10,000"),
                           ("variants: {a: {}, b: {}}\nseeds: '0-5000'", "more than 10,000 runs")]:
        (tmp_path / "sweep.yaml").write_text(base + body)
        assert ablate([str(tmp_path / "sweep.yaml"), f"--out={tmp_path / 'out'}", "--dry-run"]) == 2
        one_line_error(capsys, fragment)
    (tmp_path / "sweep.yaml").write_text(base + "variants: {erm: {}}\nseeds: '0-9999'")
    assert ablate([str(tmp_path / "sweep.yaml"), f"--out={tmp_path / 'out'}", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "10000 runs" in out[0] and out[-1] == "10000 pending; to run: 10000"
    assert not (tmp_path / "out").exists()


KILL_AT_SECOND_CHECKPOINT = """
import os, signal, sys
real, seen = os.replace, []
def replace(src, dst):  # kill -9 between a checkpoint's data and its rename: the temp file stays
    if str(dst).endswith("checkpoint.pt"):
        seen.append(dst)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
from mixgan.train import main
sys.exit(main(sys.argv[1:]))
"""


def test_orphan_temp_files_of_a_killed_checkpoint_write_are_removed_on_resume(tmp_path):
    args = [*TINY, f"--run.dir={tmp_path}", "--run.name=run"]
    killed = subprocess.run([sys.executable, "-c", KILL_AT_SECOND_CHECKPOINT, *args], capture_output=True,
                            text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = tmp_path / "run"
    orphans = list(run.glob(".checkpoint.pt.*.tmp"))
    assert len(orphans) == 1 and orphans[0].stat().st_size > 10_000  # the final checkpoint, not renamed
    (run / "notes.tmp").write_text("not ours")
    assert main(["--resume", str(run), "--run.progress=false"]) == 0  # from the step-20 checkpoint
    assert not list(run.glob(".*.tmp")) and (run / "notes.tmp").exists()
    assert [r["step"] for r in rows(run)] == [10, 20, 30, 40] and summary(run)["status"] == "completed"


def test_a_sweep_metric_no_run_reports_is_refused_before_training(tmp_path, capsys):
    from mixgan.ablate import main as ablate
    from mixgan.config.core import load_config
    from mixgan.config.sweep import load_sweep
    from mixgan.trainers.classifier import ClassifierTrainer
    from mixgan.trainers.gan import GanTrainer

    def sweep(text):
        (tmp_path / "sweep.yaml").write_text(text)
        return tmp_path / "sweep.yaml"

    gan = "base: configs/gan/default.yaml\nvariants: {erm: {}}\nseeds: [0]\n"
    assert ablate([str(sweep(gan + "metrics: [quality/modes, loss/DD]")), f"--out={tmp_path / 'out'}"]) == 2
    one_line_error(capsys, "metrics: loss/DD is reported by no run of this sweep; "
                           "accepted: final_large/coverage")  # sorted: the final_large/* names first
    assert not (tmp_path / "out").exists()
    iris = "base: configs/classify/iris.yaml\nvariants: {erm: {}}\nseeds: [0]\n"
    assert ablate([str(sweep(iris + "metrics: [test/error_top5]")), "--dry-run"]) == 2  # 3 classes
    one_line_error(capsys, "test/error_top5 is reported by no run")
    assert load_sweep(sweep(iris.replace("iris", "digits") + "metrics: [test/error_top5]")).task == "classify"
    # What the check accepts is what runs report: the keys of a last metrics row, task by task.
    for task, args, trainer in [
            ("gan", TINY, GanTrainer),
            ("gan", [*TINY, "--objective.loss=hinge", "--train.ema=0.9"], GanTrainer),  # critic, EMA
            ("classify", ["--task=classify", "--data.name=iris", "--model.name=mlp", "--model.hidden=8",
                          "--train.epochs=2", "--run.progress=false"], ClassifierTrainer),
            ("classify", ["--task=classify", "--model.width=4", "--model.hidden=8", "--train.epochs=1",
                          "--data.corrupt=0.5", "--run.progress=false", "--metrics.image_every=0"],
             ClassifierTrainer)]:
        from mixgan.train import parse_overrides

        run = tmp_path / f"{task}{len(args)}"
        assert main([*args, f"--run.dir={tmp_path}", f"--run.name={run.name}"]) == 0
        assert trainer.metric_names(load_config(None, parse_overrides(args))) == set(rows(run)[-1]) - {"step"}
