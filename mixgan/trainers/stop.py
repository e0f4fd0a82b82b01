"""Stop requests: the first Ctrl-C or scheduler signal asks the loop to checkpoint and stop; a second
one stops at once, except during a checkpoint write (mixgan/trainers/loop.py)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

# What schedulers send before they kill a job: SIGTERM (Slurm, Kubernetes, `docker stop`), and SIGUSR1
# or SIGUSR2 where a job asks for a warning signal (`sbatch --signal`). Each is a first Ctrl-C.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
                     if hasattr(signal, name))


class StopFlag:
    """First Ctrl-C (or a scheduler's SIGTERM/SIGUSR1/SIGUSR2): finish the current unit, checkpoint,
    stop. A second signal: stop now, except in the middle of a checkpoint or summary write, which ends
    first (a stop never costs the last checkpoint)."""

    def __init__(self) -> None:
        self.requested = False
        self.deferred = False  # a request held back until the ranks agree (distributed.sync_stop)
        self.writing = False  # inside a checkpoint write: a second Ctrl-C waits for its end
        self.hard = False  # a second Ctrl-C came during a write
        self.signum: int | None = None  # the first stop signal
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        try:
            self._old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            self._old = {}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested or self.deferred:
            if self.writing:
                self.hard = True
                return
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum

    @contextlib.contextmanager
    def writing_checkpoints(self) -> Iterator[None]:
        self.writing = True
        try:
            yield
        finally:
            self.writing = False
        if self.hard:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
