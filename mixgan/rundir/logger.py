"""RunLogger: the one place that writes TensorBoard and metrics.jsonl, under the same names."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
_NONFINITE = ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")  # what _jsonable writes, as text


def _jsonable(v: float) -> float | str:
    # JSON has no NaN/Inf: keep them readable as strings ("nan", "inf") for diverged runs.
    return v if math.isfinite(v) else str(v)


def _warn(message: str) -> None:
    print(f"mixgan: warning: {message}", file=sys.stderr)


def parse_row(line: str) -> dict[str, Any] | None:
    """One metrics.jsonl line as a row, or None when it is not one (cut off by a kill or a full disk)."""
    from mixgan.config.untrusted import UntrustedFileError, parse_json

    try:
        row = parse_json(line, METRICS_FILE)
    except UntrustedFileError:  # not JSON, or past a limit: not a row mixgan wrote
        return None
    return row if isinstance(row, dict) and isinstance(row.get("step"), int) else None


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl, with "nan"/"inf" strings turned back into floats.

    A last line cut off mid-write (the process was killed, the disk was full) is dropped with a
    warning; an unreadable line before it, a row that is not an object, or a file past the limits of
    config/untrusted.py (a FIFO, a device, not UTF-8) is a one-line UntrustedFileError naming the file.
    """
    from mixgan.config.untrusted import UntrustedFileError, parse_json, read_jsonl_lines, stat_file

    rows: list[dict[str, Any]] = []
    path = Path(run_dir) / METRICS_FILE
    if stat_file(path, 2**62) is None:
        return rows
    lines = read_jsonl_lines(path)
    for i, line in enumerate(lines, 1):
        try:
            row = parse_json(line, f"{path}: row {i}")
        except UntrustedFileError:
            if i < len(lines):
                raise
            _warn(f"{path}: its last line was cut off mid-write; dropped")
            break
        if not isinstance(row, dict):  # a hand-edited or foreign file
            raise UntrustedFileError(f"{path}: a row is a JSON {type(row).__name__}, not an object")
        rows.append({k: float(v) if isinstance(v, str) and k != "time" and v.lower() in _NONFINITE else v
                     for k, v in row.items()})
    return rows


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread dies with a traceback on a write error (a full disk), though the
    writer also hands that error to this thread's next call, where the loop reports it in one line."""
    import threading

    previous = threading.excepthook
    if getattr(previous, "mixgan_quiet", False):
        return

    def hook(args: Any) -> None:
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    hook.mixgan_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class RunLogger:
    """Scalars go to TensorBoard and to metrics.jsonl (one JSON object per measured step)."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None,
                 drop_at_resume: tuple[str, ...] = ()) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_FILE
        self.tensorboard = True  # False after a TensorBoard error that is not an I/O error
        if resume_step is not None and self.path.exists():
            self._keep_rows_until(resume_step, drop_at_resume)
        purge = resume_step + 1 if resume_step is not None else None
        _quiet_writer_threads()
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge)
        self._file = self.path.open("a")

    def _keep_rows_until(self, step: int, drop: tuple[str, ...] = ()) -> None:
        """Drop the rows logged after the checkpoint (they are measured again) and any line cut off by
        a crash, and the keys starting with one of `drop` from the row at `step` (the end-of-run
        measurements of a run that is now extended); rewritten atomically, so that a kill now loses
        nothing."""
        from mixgan.config.untrusted import read_jsonl_lines
        from mixgan.rundir.paths import write_text_atomic

        lines = read_jsonl_lines(self.path)
        rows = [(line, parse_row(line)) for line in lines if line.strip()]
        torn = sum(row is None for _, row in rows)
        if torn:
            _warn(f"{self.path}: {torn} line(s) cut off mid-write dropped")
        kept = []
        for line, row in rows:
            if row is not None and row["step"] <= step:
                if drop and row["step"] == step and any(k.startswith(drop) for k in row):
                    line = json.dumps({k: v for k, v in row.items() if not k.startswith(drop)})
                kept.append(line + "\n")
        write_text_atomic(self.path, "".join(kept))

    def tb(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """TensorBoard is a view of metrics.jsonl: an I/O error (a full disk) is the run's failure,
        any other error of the writer one warning, after which the events are no longer written."""
        if not self.tensorboard:
            return
        try:
            write(*args, **kwargs)
        except OSError:
            raise
        except Exception as err:
            from mixgan.errors import first_line

            self.tensorboard = False
            _warn(f"{self.run_dir}: TensorBoard events no longer written ({first_line(err)}); "
                  f"metrics.jsonl has every row")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Write one row, jsonl first (the record): TensorBoard tag = jsonl key (docs/design.md, habit 5).

        One line per row, flushed at once: a crash mid-write cuts off at most the last line, which
        readers and the next resume detect and drop."""
        row = {"step": step, **{k: _jsonable(float(v)) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        for tag, value in metrics.items():
            self.tb(self.writer.add_scalar, tag, value, step)

    def figure(self, tag: str, fig: Any, step: int) -> None:
        """A matplotlib figure as a TensorBoard image (closed afterwards)."""
        import matplotlib.pyplot as plt

        self.tb(self.writer.add_figure, tag, fig, step, close=True)
        plt.close(fig)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.tb(self.writer.add_text, tag, text, step)

    def close(self) -> None:
        """Close the events and the jsonl file, both even when the first fails (its error is raised)."""
        try:
            self.tb(self.writer.close)
        finally:
            self._file.close()
