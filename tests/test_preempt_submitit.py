"""Preemption under submitit (issue 35, item 1): a sweep job that gets the scheduler's USR2 mid-run
checkpoints its run, requeues itself through submitit's Checkpointable protocol, and the requeued job
resumes the run to the rows of an uninterrupted run. submitit's local executor, real signals."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mixgan.train import main

submitit = pytest.importorskip("submitit")

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--model.hidden=16", "--train.iterations=600", "--metrics.every=10", "--metrics.n_samples=100",
        "--metrics.image_every=0", "--run.progress=false", "--run.checkpoint_every=0"]


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def task_pid(controller_pid, timeout=60.0):
    """The job's own process: the child of submitit's local controller (what Slurm signals)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{controller_pid}/task/{controller_pid}/children").read_text().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise AssertionError("the submitit job never started")


def wait_for_rows(run_dir, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = run_dir / "metrics.jsonl"
        if path.exists() and path.read_text().count("\n") >= 1:
            return
        time.sleep(0.05)
    raise AssertionError("the run never logged a row")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the job's process through /proc")
def test_a_preempted_submitit_job_requeues_and_ends_with_the_uninterrupted_rows(tmp_path, monkeypatch,
                                                                               one_thread):
    from mixgan.experiments.executor import Job, make_submitit
    from mixgan.experiments.slurm import SlurmRun

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job on one thread, as the in-process run (one_thread)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the job and its child import this checkout
    assert main([*ARGS, f"--run.dir={tmp_path / 'whole'}", "--run.name=r"]) == 0
    sweep = tmp_path / "sweep"
    job = Job(name="r", sweep_dir=str(sweep), fresh_args=[*ARGS, f"--run.dir={sweep}", "--run.name=r"])
    executor = make_submitit(tmp_path / ".submitit", "local", {"timeout_min": 10})
    sjob = executor.submit(SlurmRun([job]))
    wait_for_rows(sweep / "r")
    os.kill(task_pid(sjob._process.pid), signal.SIGUSR2)  # the scheduler's warning: preempted
    results = sjob.result()  # the requeued job's: it resumed the run
    assert [r["status"] for r in results] == ["completed"]
    log = (sweep / ".logs" / "r.log").read_text()
    assert "--resume" in log, log  # stopped mid-run and resumed, not trained through
    summary = json.loads((sweep / "r" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 600
    assert rows(sweep / "r") == rows(tmp_path / "whole" / "r")
