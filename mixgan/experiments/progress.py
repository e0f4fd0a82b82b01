"""One progress bar for a whole sweep: member-iterations done (every run's last metrics row, read from
its run dir), their rate and the ETA, with run counts; runs without an iteration count (classifiers:
epochs) count as one unit each."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def last_step(run_dir: Path) -> int:
    """The step of a run's last complete metrics.jsonl row (0 when there is none)."""
    from mixgan.config.untrusted import is_file

    path = run_dir / "metrics.jsonl"
    if not is_file(path):  # never open a FIFO or a device
        return 0
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:  # a row still being written, or cut off at the start of the window
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            return row["step"]
    return 0


class SweepProgress:
    """tqdm over the sweep's work; `poll` reads the runs' progress, `done` records a finished run."""

    def __init__(self, name: str, sweep_dir: Path, lengths: dict[str, int | None], every_s: float = 1.0):
        from tqdm.auto import tqdm

        self.sweep_dir, self.every_s = sweep_dir, every_s
        self.by_steps = all(v for v in lengths.values())
        self.lengths = {k: int(v) if self.by_steps and v else 1 for k, v in lengths.items()}
        self.finished: set[str] = set()
        self.tally = dict.fromkeys(("completed", "diverged", "failed"), 0)
        unit = "member-it" if self.by_steps else "run"
        # work done before this launch (resumed runs) is the bar's `initial`, so that the rate and the
        # ETA count only what this process trains, not 300k member-iterations in the first second
        self.bar = tqdm(total=sum(self.lengths.values()), initial=self._done_now(), unit=unit, desc=name,
                        dynamic_ncols=True, unit_scale=self.by_steps)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.poll()

    def _done_now(self) -> int:
        n = 0
        for name, total in self.lengths.items():
            if name in self.finished:
                n += total
            elif self.by_steps:
                n += min(last_step(self.sweep_dir / name), total)
        return n

    def poll(self) -> None:
        with self._lock:
            self.bar.n = self._done_now()
            runs = f"{len(self.finished)}/{len(self.lengths)} runs"
            self.bar.set_postfix_str(", ".join([runs, *(f"{k}={v}" for k, v in self.tally.items() if v)]),
                                     refresh=False)
            self.bar.refresh()

    def done(self, result: dict[str, Any]) -> None:
        status = result["status"]
        with self._lock:
            if status in self.tally:
                self.tally[status] += 1
            if status in ("completed", "diverged", "failed"):
                self.finished.add(result["name"])
            ran = result["action"] != "none"
            how = f" ({result['action']}, {result['seconds']:.1f} s)" if ran else " (not run)"
            err = f": {result['error']}" if result.get("error") else ""
            self.bar.write(f"{result['name']}: {status}{how}{err}")
        self.poll()

    def write(self, text: str) -> None:
        self.bar.write(text)

    def __enter__(self) -> SweepProgress:
        def loop() -> None:
            while not self._stop.wait(self.every_s):
                self.poll()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        self.bar.close()
