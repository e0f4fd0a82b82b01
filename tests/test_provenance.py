"""Bookkeeping never turns a finished run into a crash (issue 11): provenance and the summary."""

import json
import subprocess
import sys
from pathlib import Path

import mixgan
from mixgan.rundir.paths import UNKNOWN, provenance

from runhelp import TINY

PKG = Path(mixgan.__file__).resolve().parent

# What Python does when `python -m mixgan.train` starts in a folder that holds the clone as `mixgan/`:
# that folder becomes a namespace package `mixgan` (no __init__, no __version__, no __file__) while the
# submodules still load from the installed package (the editable finder comes after the path finder).
SHADOWED = """
import runpy, sys, types
ns = types.ModuleType("mixgan")
ns.__path__ = [sys.argv[1]]
ns.__file__ = None
sys.modules["mixgan"] = ns
sys.argv = ["mixgan.train", *sys.argv[2:]]
runpy.run_module("mixgan.train", run_name="__main__", alter_sys=True)
"""


def test_provenance_reads_versions_without_the_package_attributes(monkeypatch):
    monkeypatch.delattr(mixgan, "__version__")
    info = provenance()
    assert info["mixgan"] == "0.1.0" and info["torch"] != UNKNOWN


def test_cli_from_a_folder_that_shadows_the_package_writes_its_summary(tmp_path):
    (tmp_path / "mixgan").mkdir()  # the clone, as a plain folder next to the runs
    args = [*TINY, "--train.iterations=20", f"--run.dir={tmp_path / 'runs'}", "--run.name=r"]
    proc = subprocess.run([sys.executable, "-c", SHADOWED, str(PKG), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "runs" / "r" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["versions"]["mixgan"] == "0.1.0"


def test_a_failing_provenance_field_is_recorded_as_unknown(monkeypatch):
    import mixgan.rundir.paths as rundir

    def broken() -> str:
        raise AttributeError("module 'mixgan' has no attribute '__version__'")

    monkeypatch.setattr(rundir, "package_version", broken)
    monkeypatch.setattr(rundir, "git_commit", broken)
    info = provenance()
    assert info["mixgan"] == UNKNOWN and info["git"] == UNKNOWN and info["python"] != UNKNOWN


def _wait_policy(env: dict) -> str:
    import os

    code = "import mixgan, os, torch; print(os.environ.get('OMP_WAIT_POLICY', ''))"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "MIXGAN_OMP_DEFAULTS")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120, check=True).stdout.strip()


def test_openmp_threads_sleep_by_default_and_the_user_setting_wins():
    # Spinning OpenMP threads made two runs on 2 cores 3-13x slower each (issue 11, BENCHMARKS.md).
    assert _wait_policy({}) == "PASSIVE"
    assert _wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
    assert _wait_policy({"MIXGAN_OMP_DEFAULTS": "0"}) == ""
