"""RunLogger: the one place that writes TensorBoard and metrics.jsonl, under the same names."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def _jsonable(v: float) -> float | str:
    # JSON has no NaN/Inf: keep them readable as strings ("nan", "inf") for diverged runs.
    return v if math.isfinite(v) else str(v)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl, with "nan"/"inf" strings turned back into floats."""
    rows = []
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict):  # a hand-edited or foreign file: the caller names it
                raise ValueError(f"{METRICS_FILE}: a row is a JSON {type(row).__name__}, not an object")
            rows.append({k: float(v) if isinstance(v, str) and k != "time" else v
                         for k, v in row.items()})
    return rows


class RunLogger:
    """Scalars go to TensorBoard and to metrics.jsonl (one JSON object per measured step)."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_FILE
        if resume_step is not None and self.path.exists():
            # Drop rows logged after the checkpoint: they are measured again after resuming.
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= resume_step]
            self.path.write_text("".join(line + "\n" for line in keep))
        purge = resume_step + 1 if resume_step is not None else None
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge)
        self._file = self.path.open("a")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Write one row: TensorBoard tag = jsonl key (docs/design.md, habit 5)."""
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, step)
        row = {"step": step, **{k: _jsonable(float(v)) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def figure(self, tag: str, fig: Any, step: int) -> None:
        """A matplotlib figure as a TensorBoard image (closed afterwards)."""
        self.writer.add_figure(tag, fig, step, close=True)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.add_text(tag, text, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
        self._file.close()
