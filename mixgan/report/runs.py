"""Run dirs as `mixgan.compare` and the sweep report read them back: found under the paths given,
checked at the boundary (rundir/validate.py), and optionally cut at a step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixgan.config.core import flatten
from mixgan.errors import ConfigError


@dataclass
class Run:
    """One run dir as read back: dotted config, metric rows, summary (empty while it runs)."""

    path: Path
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    source: Path | None = None  # the path given on the command line that it was found under

    @property
    def status(self) -> str:
        return self.summary.get("status", "incomplete")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def final(self) -> dict[str, float]:
        """summary.json's final metrics, else the last metrics row."""
        final = self.summary.get("final") or (self.rows[-1] if self.rows else {})
        return {k: float(v) for k, v in final.items() if k != "step" and isinstance(v, int | float | str)}

    def series(self, tag: str) -> list[tuple[int, float]]:
        """(step, value) of one tag over the run, NaN/Inf included."""
        return [(int(r["step"]), float(r[tag])) for r in self.rows if tag in r]


# The tag families mixgan's own toy-GAN measurement writes (a train_gan run's logged columns skip them).
MEASURED = ("loss/", "stability/", "quality/", "quality_ema/", "final_large/")


def task_of(config: dict[str, Any]) -> str:
    """The task a run reads as (dotted config): its own, except that a `mixgan.train_gan` run (task
    custom) on a registered toy data set reads as a toy-GAN run: mixgan measured it with the toy-GAN
    metrics at the same sample sizes, so its modes, columns and reference rows are the toy GAN's."""
    from mixgan.data import GAN_DATA
    from mixgan.tasks import CUSTOM_TASK

    task = config.get("task", "gan")
    if task == CUSTOM_TASK and config.get("data.name") in GAN_DATA and "metrics.n_samples" in config:
        return "gan"
    return task


def is_toy_gan(config: dict[str, Any]) -> bool:
    """A run of a registered toy data set measured by mixgan's toy metrics (task gan, or train_gan's)."""
    from mixgan.data import GAN_DATA

    return task_of(config) == "gan" and config.get("data.name") in GAN_DATA


def _is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Run dirs named directly or found under group dirs; a bad path is a one-line ConfigError."""
    return list(find_run_dirs_with_sources(paths))


def find_run_dirs_with_sources(paths: Sequence[str | Path]) -> dict[Path, Path]:
    """Run dir → the path given that it was found under, in order, each run dir once."""
    from mixgan.config.untrusted import check_path

    found: dict[Path, Path] = {}
    seen: set[Path] = set()
    for p in map(Path, paths):
        if not check_path(p).exists():
            raise ConfigError(f"{p}: no such run dir or group dir")
        if not p.is_dir():
            raise ConfigError(f"{p}: not a run dir (a folder with config.yaml, metrics.jsonl, summary.json)")
        dirs = [p] if _is_run_dir(p) else sorted(c.parent for c in p.rglob("config.yaml"))
        if not dirs:
            raise ConfigError(f"{p}: an empty group: no run dirs (folders with config.yaml) under it")
        for d in dirs:
            if d.resolve() not in seen:
                seen.add(d.resolve())
                found[d] = p
    return found


def load_run(path: Path) -> Run:
    """Read one run dir through the checks of rundir/validate.py (file limits, the config schema, the
    summary's and rows' fields): a foreign or hand-edited run is a one-line ConfigError naming the file
    and the field, before any arithmetic (a table that silently dropped a seed would mislead)."""
    from mixgan.rundir.validate import read_run_dir

    config, rows, summary = read_run_dir(path)
    return Run(path, flatten(config), rows, summary)


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    runs = []
    for path, source in find_run_dirs_with_sources(paths).items():
        run = load_run(path)
        run.source = source
        runs.append(run)
    return runs


def at_step(run: Run, step: int) -> Run:
    """The run as it stood at `step`: its rows up to there, and the row of that step as its final values
    (completed there, or diverged if it had by then); a run that never logged that step is unfinished.
    What a shorter run of the same config and seed would report: measurements never change training."""
    rows = [r for r in run.rows if r["step"] <= step]
    row = next((r for r in rows if r["step"] == step), None)
    if row is None:
        return Run(run.path, run.config, rows, {"status": "incomplete"}, run.source)
    diverged_at = run.summary.get("diverged_at")
    status = "diverged" if diverged_at is not None and diverged_at <= step else "completed"
    final = {k: v for k, v in row.items() if k != "step"}
    return Run(run.path, run.config, rows, {"status": status, "final": final, "total": step,
                                            "diverged_at": diverged_at if status == "diverged" else None},
               run.source)
