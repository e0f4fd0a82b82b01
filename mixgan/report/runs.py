"""Run dirs as `mixgan.compare` and the sweep report read them back: found under the paths given,
checked at the boundary (rundir/validate.py), and optionally cut at a step."""

from __future__ import annotations

import sys
import weakref
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mixgan.config.core import flatten
from mixgan.errors import ConfigError

# summary.json's fields a report reads (the rest, e.g. health and versions, is not kept per run).
SUMMARY_KEYS = ("status", "step", "total", "diverged_at", "final", "references")  # references: image GANs
_STEPS: weakref.WeakValueDictionary[bytes, array] = weakref.WeakValueDictionary()


def _shared_steps(steps: list[int]) -> array:
    """One array per distinct step sequence: the runs of a sweep measure at the same steps."""
    arr = array("q", steps)
    return _STEPS.setdefault(arr.tobytes(), arr)


class Run:
    """One run dir as a report reads it back, kept small (issue 35: 10,000 runs within 2 GB): the dotted
    config, summary.json's fields in SUMMARY_KEYS, and each tag's (steps, values) from metrics.jsonl as
    compact arrays (8 bytes a number, exactly the rows' floats), never the rows themselves."""

    def __init__(self, path: Path, config: dict[str, Any], rows: Iterable[dict[str, Any]],
                 summary: dict[str, Any], source: Path | None = None) -> None:
        self.path = path
        self.config = config
        self.summary = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
        if isinstance(self.summary.get("final"), dict):  # one copy of each name for all runs
            self.summary["final"] = {sys.intern(k): v for k, v in self.summary["final"].items()}
        self.source = source  # the path given on the command line that it was found under
        steps: dict[str, list[int]] = {}
        values: dict[str, list[float]] = {}
        last: dict[str, Any] = {}
        for row in rows:  # tags in first-seen order, as the rows list them
            step = int(row["step"])
            for key, value in row.items():
                if key not in ("step", "time"):
                    steps.setdefault(key, []).append(step)
                    values.setdefault(key, []).append(float(value))
            last = row
        self._curves = {sys.intern(k): (_shared_steps(steps[k]), array("d", v)) for k, v in values.items()}
        self.last_step: int | None = int(last["step"]) if last else None
        # the last row stands in for summary.json's final values only when the summary has none
        self._last = {} if self.summary.get("final") else dict(last)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r}, tags={len(self._curves)})"

    @property
    def status(self) -> str:
        return self.summary.get("status", "incomplete")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def final(self) -> dict[str, float]:
        """summary.json's final metrics, else the last metrics row."""
        final = self.summary.get("final") or self._last
        return {k: float(v) for k, v in final.items() if k != "step" and isinstance(v, int | float | str)}

    def tags(self) -> list[str]:
        """The metrics it logged, in first-seen order (step and time are not metrics)."""
        return list(self._curves)

    def series(self, tag: str) -> list[tuple[int, float]]:
        """(step, value) of one tag over the run, NaN/Inf included."""
        steps, values = self._curves.get(tag, ((), ()))
        return list(zip(steps, values))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The metric rows rebuilt from the columns (without `time`), step by step: for code that wants
        rows; the reports read `series` and `tags`."""
        rows: dict[int, dict[str, Any]] = {}
        for tag, (steps, values) in self._curves.items():
            for step, value in zip(steps, values):
                rows.setdefault(step, {"step": step})[tag] = value
        return [rows[s] for s in sorted(rows)]


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


def load_run(path: Path, step: int | None = None) -> Run:
    """Read one run dir through the checks of rundir/validate.py (file limits, the config schema, the
    summary's and rows' fields): a foreign or hand-edited run is a one-line ConfigError naming the file
    and the field, before any arithmetic (a table that silently dropped a seed would mislead). With
    `step`, the run as it stood at that step (`at_step`). Its rows are dropped once read (Run)."""
    from mixgan.rundir.validate import read_run_dir

    config, rows, summary = read_run_dir(path)
    if step is not None:
        rows, summary = _cut(rows, summary, step)
    return Run(path, {sys.intern(k): sys.intern(v) if isinstance(v, str) else v
                      for k, v in flatten(config).items()}, rows, summary)


def iter_runs(paths: Sequence[str | Path], step: int | None = None, progress: bool | None = None
              ) -> Iterator[Run]:
    """The runs under `paths`, read one at a time (load_run), with a progress bar on stderr while they
    are read (`progress`: None shows it only when stderr is a terminal, False never)."""
    from tqdm.auto import tqdm

    found = find_run_dirs_with_sources(paths)
    with tqdm(total=len(found), unit="run", desc="reading runs", file=sys.stderr, leave=False,
              dynamic_ncols=True, disable=None if progress is None else not progress) as bar:
        for path, source in found.items():
            run = load_run(path, step)
            run.source = source
            bar.update()
            yield run


def load_runs(paths: Sequence[str | Path], step: int | None = None, progress: bool | None = False
              ) -> list[Run]:
    """Every run under `paths` (iter_runs), each kept as its compact Run."""
    return list(iter_runs(paths, step, progress))


def _cut(rows: list[dict[str, Any]], summary: dict[str, Any], step: int
         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = [r for r in rows if r["step"] <= step]
    row = next((r for r in rows if r["step"] == step), None)
    if row is None:
        return rows, {"status": "incomplete"}
    diverged_at = summary.get("diverged_at")
    status = "diverged" if diverged_at is not None and diverged_at <= step else "completed"
    final = {k: v for k, v in row.items() if k != "step"}
    return rows, {"status": status, "final": final, "total": step,
                  "diverged_at": diverged_at if status == "diverged" else None}


def at_step(run: Run, step: int) -> Run:
    """The run as it stood at `step`: its rows up to there, and the row of that step as its final values
    (completed there, or diverged if it had by then); a run that never logged that step is unfinished.
    What a shorter run of the same config and seed would report: measurements never change training.
    (`load_run(path, step)` cuts the rows as read; here they are rebuilt from the run's columns.)"""
    rows, summary = _cut(run.rows, run.summary, step)
    return Run(run.path, run.config, rows, summary, run.source)
