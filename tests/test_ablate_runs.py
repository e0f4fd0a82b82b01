"""mixgan.ablate with real `python -m mixgan.train` child processes (8 tiny runs in all).

A failing and a diverging run finish the sweep and are reported; Ctrl-C and a restart complete a
sweep without redoing finished runs; the Slurm path runs through submitit's LocalExecutor.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mixgan.ablate import main
from mixgan.experiments.executor import run_state
from mixgan.rundir.logger import read_metrics

TINY = ("{model.hidden: 16, train.iterations: 20, metrics.every: 10, metrics.n_samples: 100, "
        "metrics.image_every: 0}")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children: no oversubscribed cores


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def test_failed_and_diverged_runs_are_reported_and_not_redone(tmp_path, capsys):
    # cuda:99 passes validation but cannot start (no such device): a run-time failure.
    path = write(tmp_path, f"""
base: configs/gan/default.yaml
overrides: {TINY}
variants:
  ok: {{}}
  boom: {{train.lr: 1e30}}
  bad: {{device: "cuda:99"}}
seeds: [0]
metrics: [quality/modes]
""")
    out = tmp_path / "out"
    assert main([str(path), f"--out={out}", "--jobs=2"]) == 1  # 1: a run failed
    assert [run_state(out / f"{v}__s0") for v in ("ok", "boom", "bad")] == ["completed", "diverged", "failed"]
    failed = json.loads((out / "bad__s0" / "failed.json").read_text())
    assert failed["returncode"] != 0 and any("cuda:99" in line for line in failed["last_lines"])
    report = (out / "report.md").read_text()
    assert "| ok |" in report and "| boom | — | 0 | 1 | 0 |" in report and "| bad | — | 0 | 0 | 1 |" in report
    capsys.readouterr()

    # Again: nothing is run (finished runs and the failed one are left alone).
    stamps = {p: mtime(p) for p in out.glob("*/*.json")}
    assert main([str(path), f"--out={out}"]) == 1
    assert "to run: 0" in capsys.readouterr().out
    assert {p: mtime(p) for p in out.glob("*/*.json")} == stamps

    # --retry-failed runs only the failed one again (and it fails again).
    assert main([str(path), f"--out={out}", "--retry-failed"]) == 1
    assert "1 completed, 1 diverged, 1 failed; to run: 1" in capsys.readouterr().out
    assert (out / ".logs" / "bad__s0.log").read_text().count("$ ") == 2
    assert mtime(out / "ok__s0" / "summary.json") == stamps[out / "ok__s0" / "summary.json"]


def test_ctrl_c_then_restart_completes_without_redoing(tmp_path):
    path = write(tmp_path, f"""
base: configs/gan/default.yaml
overrides: {TINY}
variants:
  a: {{}}
  b: {{train.iterations: 500, run.checkpoint_every: 250}}
seeds: [0]
metrics: [quality/modes]
""")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mixgan.ablate", str(path), f"--out={out}", "--jobs=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not read_metrics(out / "b__s0") and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    # As Ctrl-C, while b is at about step 10 of 500 (hundreds of iterations to go even on a fast
    # idle machine): forwarded to the child, which checkpoints and exits 130.
    proc.send_signal(signal.SIGINT)
    log, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, log
    assert run_state(out / "a__s0") == "completed" and run_state(out / "b__s0") == "interrupted"
    assert not (out / "b__s0" / "failed.json").exists()
    assert not list(out.rglob("*.tmp")), "nothing half-written"
    a_stamp = mtime(out / "a__s0" / "summary.json")

    assert main([str(path), f"--out={out}", "--jobs=1"]) == 0
    assert mtime(out / "a__s0" / "summary.json") == a_stamp  # not redone
    summary = json.loads((out / "b__s0" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 500
    assert [r["step"] for r in read_metrics(out / "b__s0")] == list(range(10, 501, 10))
    assert "--resume" in (out / ".logs" / "b__s0.log").read_text()


def test_submitit_local_executor_runs_a_sweep(tmp_path):
    path = write(tmp_path, """
base: {task: gan, model: {hidden: 16}, train: {iterations: 20}, metrics: {every: 10, n_samples: 100}}
variants: {erm: {}}
seeds: [3]
metrics: [quality/modes]
""")
    out = tmp_path / "out"
    assert main([str(path), f"--out={out}", "--executor=submitit-local"]) == 0
    assert run_state(out / "erm__s3") == "completed"
    assert json.loads((out / "erm__s3" / "summary.json").read_text())["step"] == 20
    assert list((out / ".submitit").glob("*_result.pkl")) and (out / "base.yaml").exists()
    assert "| erm | " in (out / "report.md").read_text()


STACKED = f"""
base: configs/gan/default.yaml
overrides: {TINY}
variants:
  mix:
    overrides: {{objective.name: mixup}}
    grid: {{objective.alpha: [0.2, 1.0]}}
seeds: [0, 1]
metrics: [quality/modes]
"""


def test_a_sweep_packs_into_stacks_that_equal_runs_alone(tmp_path, capsys):
    # 2 α × 2 seeds differ only in member settings: one stack, which with two workers (the sweep's last
    # round) splits into two `python -m mixgan.experiments.stacks` processes of 2 so that neither worker
    # idles; each run's rows equal those of the same run trained in its own process.
    path = write(tmp_path, STACKED)
    assert main([str(path), f"--out={tmp_path / 'alone'}", "--jobs=1", "--no-stack"]) == 0
    capsys.readouterr()
    assert main([str(path), f"--out={tmp_path / 'split'}", "--jobs=2"]) == 0
    said = capsys.readouterr()
    assert "2 stacks on 2 workers: the last round split into 2 + 2 runs" in said.out + said.err
    logs = sorted(p.name for p in (tmp_path / "split" / ".logs").glob("*.log"))
    assert len(logs) == 2 and all(name.startswith("stack-") for name in logs), logs
    assert len(list((tmp_path / "alone" / ".logs").glob("*.log"))) == 4
    names = [d.name for d in sorted((tmp_path / "alone").glob("mix__*"))]
    assert len(names) == 4
    for name in names:
        got, want = read_metrics(tmp_path / "split" / name), read_metrics(tmp_path / "alone" / name)
        assert [r["step"] for r in got] == [r["step"] for r in want] == [10, 20]
        for a, b in zip(got, want):
            assert a.keys() == b.keys()
            assert all(a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-4) for k in b), name


def test_ctrl_c_of_a_stack_then_restart_resumes_its_members_as_one_stack(tmp_path):
    path = write(tmp_path, STACKED.replace("seeds: [0, 1]", "seeds: [0]").replace(
        TINY, TINY.replace("train.iterations: 20", "train.iterations: 500, run.checkpoint_every: 250")))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mixgan.ablate", str(path), f"--out={out}", "--jobs=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = out / "mix__objective.alpha=0.2__s0"
    deadline = time.time() + 240
    while not read_metrics(first) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # forwarded to the stack, which checkpoints every member
    log, _ = proc.communicate(timeout=240)
    assert proc.returncode == 130, log
    runs = sorted(out.glob("mix__*"))
    assert len(runs) == 2 and {run_state(r) for r in runs} == {"interrupted"}
    assert main([str(path), f"--out={out}", "--jobs=1"]) == 0
    for run in runs:
        assert json.loads((run / "summary.json").read_text())["status"] == "completed"
        assert [r["step"] for r in read_metrics(run)] == list(range(10, 501, 10))
    # the members stood at one step: they resume as one stack again (experiments/executor.py)
    log = (out / ".logs" / f"stack-{runs[0].name}.log").read_text()
    assert "mixgan.experiments.stacks --resume" in log and all(str(r) in log for r in runs)


def test_a_raised_length_extends_the_completed_runs_to_the_longer_sweeps_numbers(tmp_path, capsys):
    # Raising train.iterations in a finished sweep and running it again resumes every run to the new
    # length (one stack, as they stand at one step): their rows equal a sweep run at that length from
    # the start. Lowering it is refused in one line (a resume only extends a run).
    sweep = """
base: configs/gan/default.yaml
overrides: {tiny}
variants:
  mix: {{objective.name: mixup}}
seeds: [0, 1]
metrics: [quality/modes]
"""
    longer = TINY.replace("train.iterations: 20", "train.iterations: 40")
    for sub in "abcd":
        (tmp_path / sub).mkdir()
    assert main([str(write(tmp_path / "a", sweep.format(tiny=longer))), f"--out={tmp_path / 'long'}"]) == 0
    out = tmp_path / "short"
    assert main([str(write(tmp_path / "b", sweep.format(tiny=TINY))), f"--out={out}"]) == 0
    capsys.readouterr()
    path = write(tmp_path / "c", sweep.format(tiny=longer))
    assert main([str(path), f"--out={out}", "--dry-run"]) == 0
    assert "2 to extend; to run: 2 (2 resumed)" in capsys.readouterr().out
    assert main([str(path), f"--out={out}", "--jobs=1"]) == 0  # one worker: the two resume as one stack
    for run in ("mix__s0", "mix__s1"):
        assert json.loads((out / run / "summary.json").read_text())["status"] == "completed"
        assert read_metrics(out / run) == read_metrics(tmp_path / "long" / run)
        # config.yaml says how long the run trained: the longer sweep's config, but for where it went
        extended, fresh = (yaml.safe_load((d / run / "config.yaml").read_text())
                           for d in (out, tmp_path / "long"))
        assert {**extended, "run": None} == {**fresh, "run": None}
    log = next((out / ".logs").glob("stack-*.log")).read_text()
    assert "--resume" in log and "--train.iterations=40" in log
    capsys.readouterr()
    # below the runs' length now (40; their config.yaml keeps the 20 they started with): one line
    shorter = TINY.replace("train.iterations: 20", "train.iterations: 30")
    assert main([str(write(tmp_path / "d", sweep.format(tiny=shorter))), f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert "train.iterations=40 but the sweep now gives 30" in err and len(err.strip().splitlines()) == 1
