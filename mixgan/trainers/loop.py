"""The task-independent driver: progress bar, logging, checkpoints, divergence, Ctrl-C, summary.

A task trainer (GAN, classifier) only knows how to advance one unit (an iteration or an epoch),
measure itself, and save/restore its state; this loop does the rest the same way for every task.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any, Protocol

from mixgan.checkpoint import CHECKPOINT, save_checkpoint
from mixgan.config import to_dict
from mixgan.rundir import provenance, write_json_atomic
from mixgan.runlog import RunLogger

SUMMARY = "summary.json"


class Trainer(Protocol):
    """What the loop needs of a task trainer (optionally also `dashboard`, its TensorBoard layout:
    see mixgan/dashboard.py)."""

    step: int  # units done so far
    total: int  # units to do
    unit: str  # "it" or "epoch", for the progress bar
    watch_keys: tuple[str, ...]  # a non-finite value in one of these means the run diverged
    summary_keys: tuple[str, ...]  # metrics shown in the final console table

    def advance(self) -> None: ...
    def measure_due(self) -> bool: ...
    def measure(self) -> dict[str, float]: ...
    def pictures_due(self) -> bool: ...
    def pictures(self, logger: RunLogger) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _StopFlag:
    """First Ctrl-C: finish the current unit, checkpoint, stop. Second Ctrl-C: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self.deferred = False  # a request held back until the ranks agree (distributed.sync_stop)
        self._old: Any = None

    def __enter__(self) -> _StopFlag:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested or self.deferred:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _short(metrics: dict[str, float], keys: tuple[str, ...]) -> dict[str, str]:
    return {k.split("/")[-1]: f"{metrics[k]:.4g}" for k in keys if k in metrics}


def checkpoint_payload(step: int, cfg: Any, wall_time: float,
                       trainer_state: dict[str, Any]) -> dict[str, Any]:
    """What checkpoint.pt holds: the step, the config as data, the wall time, the trainer's state."""
    return {"step": step, "config": to_dict(cfg), "wall_time": wall_time, "trainer": trainer_state}


def checkpoint_state(trainer: Trainer, cfg: Any, wall_time: float) -> dict[str, Any]:
    return checkpoint_payload(trainer.step, cfg, wall_time, trainer.state_dict())


def diverged(metrics: dict[str, float], keys: tuple[str, ...]) -> bool:
    """A non-finite watched value: the run diverged (recorded as a result, not raised)."""
    return not all(math.isfinite(metrics.get(k, 0.0)) for k in keys)


def measure_and_log(trainer: Trainer, logger: RunLogger) -> dict[str, float]:
    """One measurement (the host sync of the loop), written to TensorBoard and metrics.jsonl."""
    last = trainer.measure()
    logger.log(trainer.step, last)
    return last


def write_summary(run_dir: Path, trainer: Trainer, status: str, diverged_at: int | None,
                  last: dict[str, float], wall: float, **extra: Any) -> dict[str, Any]:
    """summary.json of a finished run (completed, diverged or interrupted); returns it."""
    summary = {"status": status, "step": trainer.step, "total": trainer.total, "diverged_at": diverged_at,
               "final": last, "wall_time_s": round(wall, 3), "run_dir": str(run_dir),
               "versions": provenance(), **extra}
    write_json_atomic(run_dir / SUMMARY, summary)
    return summary


def run_loop(trainer: Trainer, cfg: Any, run_dir: Path, resumed: bool = False,
             wall_time: float = 0.0) -> dict[str, Any]:
    """Train until done, diverged or interrupted; write summary.json and return it."""
    from mixgan import dashboard

    logger = RunLogger(run_dir, resume_step=trainer.step if resumed else None)
    dashboard.start_run(logger.writer, trainer, to_dict(cfg))  # custom-scalars layout + hparams
    ckpt_path = run_dir / CHECKPOINT
    every = cfg.run.checkpoint_every
    status, diverged_at, last = "running", None, {}
    start = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=trainer.total, initial=trainer.step, unit=trainer.unit, dynamic_ncols=True,
               disable=not cfg.run.progress, desc=run_dir.name)
    try:
        with _StopFlag() as stop:
            while trainer.step < trainer.total:
                trainer.advance()
                bar.update(1)
                if trainer.measure_due():
                    last = measure_and_log(trainer, logger)
                    bar.set_postfix(_short(last, trainer.summary_keys), refresh=False)
                    if diverged(last, trainer.watch_keys):
                        # A diverged run is a result: record where, keep the last good checkpoint.
                        status, diverged_at = "diverged", trainer.step
                        break
                if trainer.pictures_due():
                    trainer.pictures(logger)
                elapsed = wall_time + time.perf_counter() - start
                if stop.requested:
                    status = "interrupted"
                    save_checkpoint(checkpoint_state(trainer, cfg, elapsed), ckpt_path)
                    break
                if every and trainer.step % every == 0 and trainer.step < trainer.total:
                    save_checkpoint(checkpoint_state(trainer, cfg, elapsed), ckpt_path)
            else:
                status = "completed"
    finally:
        bar.close()
        dashboard.end_run(logger.writer, status)
        logger.close()
    wall = wall_time + time.perf_counter() - start
    if status == "completed":
        save_checkpoint(checkpoint_state(trainer, cfg, wall), ckpt_path)
    return write_summary(run_dir, trainer, status, diverged_at, last, wall)


def run_worker(trainer: Any) -> dict[str, Any]:
    """Ranks > 0 under torchrun: the same units and measurements as rank 0, writing nothing."""
    status, last = "completed", {}
    with _StopFlag() as stop:
        while trainer.step < trainer.total:
            trainer.advance()
            if trainer.measure_due():
                last = trainer.measure()
                if diverged(last, trainer.watch_keys):
                    status = "diverged"
                    break
            if stop.requested:
                status = "interrupted"
                break
    return {"status": status, "step": trainer.step, "total": trainer.total, "final": last,
            "rank": trainer.rank}


def print_summary(summary: dict[str, Any], keys: tuple[str, ...]) -> None:
    """The closing lines of a run: status, key metrics, and how to open TensorBoard."""
    final = summary["final"]
    width = max((len(k) for k in keys), default=10)
    print(f"\nrun {summary['run_dir']}: {summary['status']} at step {summary['step']}/"
          f"{summary['total']} in {summary['wall_time_s']:.1f} s")
    if summary["diverged_at"] is not None:
        print(f"  non-finite loss first seen at step {summary['diverged_at']}")
    for k in keys:
        if k in final:
            print(f"  {k:<{width}}  {final[k]:.4g}")
    print(f"open it with:  tensorboard --logdir {summary['run_dir']}")
