"""The one training loop: progress bar, cadences, logging, checkpoints, divergence, Ctrl-C, summaries.

It trains a stack of S ≥ 1 members in step (toy GAN: S seeds and member settings at once; classifier
and image GAN: S = 1). Each member has its own run dir, logger, status and checkpoint; a member that
diverges stops logging and keeps its last good checkpoint while the others go on. The cadences are
written here, from the config, as plain `if step % every == 0` blocks (nanoGPT's train.py); a task
trainer only advances one unit (an iteration or an epoch), measures its members, draws pictures and
saves/restores a member's state. torchrun ranks above 0 run the same loop with no run dirs.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from mixgan.config.core import to_dict
from mixgan.errors import CheckpointError, first_line
from mixgan.rundir.checkpoint import CHECKPOINT, all_finite, save_checkpoint
from mixgan.rundir.logger import RunLogger, read_metrics
from mixgan.rundir.paths import SUMMARY, check_outputs, provenance, run_dir_lock, write_json_atomic
from mixgan.trainers.console import postfix, print_summary, where  # noqa: F401 (callers import it from here)
from mixgan.trainers.stop import StopFlag


class Trainer(Protocol):
    """What the loop needs of a task trainer (optionally also `dashboard`, its TensorBoard layout)."""

    step: int  # units done so far
    total: int  # units to do
    unit: str  # "it" or "epoch", for the progress bar
    members: int  # S, the runs trained at once
    watch_keys: tuple[str, ...]  # a non-finite value in one of these means the member diverged
    summary_keys: tuple[str, ...]  # metrics shown in the final console table

    def advance(self) -> None: ...
    def measure(self) -> list[dict[str, float]]: ...  # one dict per member
    def pictures(self, s: int, logger: RunLogger) -> None: ...
    def member_state(self, s: int) -> dict[str, Any]: ...


class Single:
    """A one-run trainer (classifier, image GAN: measure() → dict, pictures(logger), state_dict())
    seen as a stack of one member."""

    members = 1

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trainer, name)

    def measure(self) -> list[dict[str, float]]:
        return [self.trainer.measure()]

    def pictures(self, s: int, logger: RunLogger) -> None:
        self.trainer.pictures(logger)

    def member_state(self, s: int) -> dict[str, Any]:
        return self.trainer.state_dict()


def as_stack(trainer: Any) -> Trainer:
    return trainer if hasattr(trainer, "member_state") else Single(trainer)


class Member:
    """One member's side of the loop: its config, run dir and logger (None on a worker rank), status."""

    def __init__(self, index: int, cfg: Any, run_dir: Path | None) -> None:
        self.index, self.cfg, self.run_dir = index, cfg, run_dir
        self.status, self.diverged_at, self.last = "running", None, {}
        self.error = ""  # why a failed member failed, one line
        self.nonfinite_seen = False  # a checkpoint was skipped for non-finite state (warned once)
        self.logger: RunLogger | None = None
        self.health: Any = None  # the verdict of its last evaluation (metrics/health.py), where judged
        self.references: dict[str, dict[str, float]] | None = None  # an image GAN's reference rows
        self.health_step = 0

    def judge(self, trainer: Trainer, step: int) -> None:
        """The verdict of the last row, where the trainer gives one (toy data): kept for the bar and the
        summary, and written to TensorBoard's Text tab as `health` at its step."""
        judge = getattr(trainer, "health", None)
        self.health = judge(self.last) if judge is not None else None
        self.health_step = step
        if self.health is not None and self.logger is not None:
            self.logger.text("health", f"**{self.health.verdict}**: {self.health.why}", step)

    def refer(self, trainer: Trainer, step: int) -> None:
        """At the last unit, where the trainer scores references beside its quality numbers (the image
        GAN's held-out real, noise and one-image rows): kept for the summary, written to the Text tab."""
        refs = getattr(trainer, "references", None)
        if refs is None or not any(k.startswith(("quality/", "fidelity/")) for k in self.last):
            return
        self.references = refs()
        if self.references and self.logger is not None:
            from mixgan.metrics.image_reference import markdown

            self.logger.text("references", markdown(self.references, self.last), step)

    def open(self, trainer: Trainer, resumed: bool) -> None:
        """Start logging. A resumed run first drops the rows logged after its checkpoint, and the row of
        the checkpoint's step itself when that step is off the metrics.every cadence: the last unit of
        a shorter run, which a run extended from it does not measure (an uninterrupted one never did)."""
        if self.run_dir is not None:
            from mixgan.config.resume import total_key
            from mixgan.rundir import dashboard
            from mixgan.rundir.paths import record_length

            mc, step = self.cfg.metrics, trainer.step
            off = not on_cadence(mc, step) and step < trainer.total
            keep = step - 1 if off else step
            # An extended run's last row loses the end-of-run measurements (final_large/*) of its first
            # end: an uninterrupted run measures them at its last step only.
            ends = getattr(trainer, "end_of_run", ()) if step < trainer.total else ()
            self.logger = RunLogger(self.run_dir, resume_step=keep if resumed else None, drop_at_resume=ends)
            if resumed:  # an extension's new length in config.yaml, once the run dir has read back whole
                record_length(self.run_dir, total_key(self.cfg.task), trainer.total)
            # The custom-scalars layout and the hparams of the run.
            self.logger.tb(dashboard.start_run, self.logger.writer, trainer, to_dict(self.cfg))

    def fail(self, err: BaseException) -> None:
        """The member's result is a failure (a full disk, a lost mount), recorded in one line."""
        self.status, self.error = "failed", first_line(err)

    def close(self) -> None:
        """End the member's TensorBoard run; bookkeeping that fails is a warning, never a lost summary."""
        if self.logger is None:
            return
        from mixgan.rundir import dashboard

        logger = self.logger
        for what in (lambda: logger.tb(dashboard.end_run, logger.writer, self.status), logger.close):
            try:
                what()
            except Exception as err:  # the training is done: record it whatever the event files do
                if self.status != "failed":  # a failed member's error is already its one line
                    print(f"mixgan: warning: {self.run_dir}: {first_line(err)}", file=sys.stderr)


def due(every: int, step: int) -> bool:
    """A cadence: every `every` units (0 or less: never, except where the caller adds the last unit)."""
    return every > 0 and step % every == 0


def on_cadence(mc: Any, step: int) -> bool:
    """Whether `step` is on a measurement cadence (metrics.every, or fid_every where a task has it)."""
    return due(mc.every, step) or due(getattr(mc, "fid_every", 0), step)


def diverged(metrics: dict[str, float], keys: tuple[str, ...]) -> bool:
    """A non-finite watched value: the run diverged (recorded as a result, not raised)."""
    return not all(math.isfinite(metrics.get(k, 0.0)) for k in keys)


def checkpoint_payload(step: int, cfg: Any, wall_time: float,
                       trainer_state: dict[str, Any]) -> dict[str, Any]:
    """What checkpoint.pt holds: the step, the config as data, the wall time, the trainer's state."""
    return {"step": step, "config": to_dict(cfg), "wall_time": wall_time, "trainer": trainer_state}


def save_member(trainer: Trainer, m: Member, wall: float) -> None:
    """Write member m's checkpoint, unless its state is not finite: a run that blew up between two
    measurements keeps its last good checkpoint, and the next measurement records the divergence."""
    if m.run_dir is None:
        return
    state = trainer.member_state(m.index)
    if not all_finite(state):
        if not m.nonfinite_seen:
            m.nonfinite_seen = True
            print(f"mixgan: warning: {m.run_dir}: non-finite weights or optimizer state at step "
                  f"{trainer.step}; checkpoint not written (the last good one is kept)", file=sys.stderr)
        return
    save_checkpoint(checkpoint_payload(trainer.step, m.cfg, wall, state), m.run_dir / CHECKPOINT)


def write_summary(m: Member, trainer: Trainer, wall: float, **extra: Any) -> dict[str, Any]:
    """summary.json of a finished member (completed, diverged, interrupted or failed); returns it.

    When it cannot be written (a full disk), the returned summary says so in its one-line error."""
    summary = {"status": m.status, "step": trainer.step, "total": trainer.total,
               "diverged_at": m.diverged_at, "final": m.last, "wall_time_s": round(wall, 3),
               "run_dir": str(m.run_dir), "versions": provenance(), **extra}
    if m.error:
        summary["error"] = m.error
    if m.run_dir is not None:
        try:
            write_json_atomic(m.run_dir / SUMMARY, summary)
        except OSError as err:
            why = m.error or first_line(err)
            summary.update(status="failed", error=f"{why} (summary.json not written: {first_line(err)})")
    return summary


def run_stack(trainer: Any, cfgs: list[Any], run_dirs: list[Path] | None, resumed: bool = False,
              wall_time: float = 0.0) -> list[dict[str, Any]]:
    """Train every member until done, diverged or interrupted; write each summary.json; return them.

    `run_dirs` None: a torchrun worker rank, which trains and measures like rank 0 and writes nothing.
    """
    for run_dir in run_dirs or []:  # before the first iteration, not when the run's end is written
        check_outputs(run_dir, "run dir")
    with run_dir_lock(run_dirs or []):  # one process trains a run dir at a time
        return _run_stack(as_stack(trainer), cfgs, run_dirs, resumed, wall_time)


def _run_stack(trainer: Trainer, cfgs: list[Any], run_dirs: list[Path] | None, resumed: bool,
               wall_time: float) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    cfg, mc = cfgs[0], cfgs[0].metrics
    dirs = run_dirs if run_dirs is not None else [None] * len(cfgs)
    members = [Member(s, c, d) for s, (c, d) in enumerate(zip(cfgs, dirs))]
    show = cfg.run.progress and run_dirs is not None
    desc = members[0].run_dir.name if len(members) == 1 and show else f"{len(members)} runs"
    if show:
        print(f"{desc}: {where(trainer)}", flush=True)
    bar = tqdm(total=trainer.total, initial=trainer.step, unit=trainer.unit, dynamic_ncols=True,
               disable=not show, desc=desc)
    start = time.perf_counter()
    # The stop signals are ours until every summary is written: a second Ctrl-C (or SIGTERM) during
    # the run's end waits for the writes, and never leaves a traceback or a run without its summary.
    with StopFlag() as stop:
        summaries = _train_and_close(trainer, members, cfg, mc, bar, stop, start, resumed, wall_time)
    return summaries


def _train_and_close(trainer: Trainer, members: list[Member], cfg: Any, mc: Any, bar: Any, stop: StopFlag,
                     start: float, resumed: bool, wall_time: float) -> list[dict[str, Any]]:
    running = list(members)
    try:
        for m in members:
            m.open(trainer, resumed)
        while trainer.step < trainer.total and running:
            trainer.advance()
            bar.update(1)
            step, last_unit = trainer.step, trainer.step == trainer.total
            # Measure every metrics.every units (and image quality every fid_every where a task has it).
            if due(mc.every, step) or last_unit or due(getattr(mc, "fid_every", 0), step):
                for m, metrics in zip(members, trainer.measure()):
                    if m.status != "running":
                        continue
                    m.last = metrics
                    if m.logger is not None:
                        m.logger.log(step, metrics)
                    m.judge(trainer, step)
                    if last_unit:
                        m.refer(trainer, step)
                    if diverged(metrics, trainer.watch_keys):
                        # A diverged member is a result: record where, keep its last good checkpoint.
                        m.status, m.diverged_at = "diverged", step
                running = [m for m in running if m.status == "running"]
                bar.set_postfix(postfix(members, trainer.summary_keys), refresh=False)
            if mc.image_every >= 0 and (due(mc.image_every, step) or last_unit):
                for m in running:
                    if m.logger is not None:
                        trainer.pictures(m.index, m.logger)
            elapsed = wall_time + time.perf_counter() - start
            if stop.requested:
                with stop.writing_checkpoints():
                    for m in running:
                        m.status = "interrupted"
                        save_member(trainer, m, elapsed)
                running = []
            elif due(cfg.run.checkpoint_every, step) and not last_unit:
                with stop.writing_checkpoints():
                    for m in running:
                        save_member(trainer, m, elapsed)
        for m in running:
            m.status = "completed"
    except KeyboardInterrupt:  # a second Ctrl-C: stop now; the last checkpoint (if any) is the state
        for m in members:
            if m.status in ("running", "interrupted"):
                m.status = "interrupted"
    except OSError as err:  # a full disk, a lost mount: a failed run, said in one line (no traceback)
        for m in members:
            if m.status == "running":
                m.fail(err)
    finally:
        stop.writing = True  # from here on a stop signal waits: the run's end is written whole
        bar.close()
        for m in members:
            m.close()
    wall = wall_time + time.perf_counter() - start
    summaries = []
    for m in members:
        if m.status == "completed":
            try:
                save_member(trainer, m, wall)
            except OSError as err:
                m.fail(err)
        extra: dict[str, Any] = {"members_in_stack": len(members)} if len(members) > 1 else {}
        if stop.signum is not None and m.status == "interrupted":  # SIGINT, or a scheduler's SIGTERM
            extra["stop_signal"] = signal.Signals(stop.signum).name
        if m.health is not None:
            extra["health"] = m.health.record(m.health_step)
        if m.references:
            extra["references"] = m.references
        summaries.append(write_summary(m, trainer, wall, **extra))
    return summaries


def exit_code(summary: dict[str, Any]) -> int:
    """The process's exit code for a run's summary: 0 completed or diverged (results), 1 failed, and
    for a stopped run 128 + the signal that stopped it (130 Ctrl-C, 143 SIGTERM), as shells report."""
    if summary.get("status") == "failed":
        return 1
    if summary.get("status") == "interrupted":
        name = summary.get("stop_signal", "SIGINT")
        return 128 + int(getattr(signal, name, signal.SIGINT))
    return 0


def finish_resumed(trainer: Any, cfg: Any, run_dir: Path, wall_time: float) -> dict[str, Any]:
    """Resuming a run with nothing left to train (its checkpoint is at the last unit: completed, or
    interrupted after it): its summary is rebuilt from the checkpoint and the metrics row of that step,
    never emptied; without that row it is a one-line CheckpointError and nothing is written."""
    try:
        rows = [r for r in read_metrics(run_dir) if r.get("step") == trainer.step]
    except (OSError, ValueError) as err:
        rows, why = [], f" ({first_line(err)})"
    else:
        why = ""
    if not rows:
        raise CheckpointError(f"{run_dir}: its checkpoint is at the last step {trainer.step} but "
                              f"metrics.jsonl has no row of that step{why}, so its summary cannot be "
                              f"rebuilt; delete the run dir to train it again")
    trainer = as_stack(trainer)
    m = Member(0, cfg, run_dir)
    m.last = {k: v for k, v in rows[-1].items() if k != "step"}
    m.status = "diverged" if diverged(m.last, trainer.watch_keys) else "completed"
    m.diverged_at = trainer.step if m.status == "diverged" else None
    m.judge(trainer, trainer.step)
    return write_summary(m, trainer, wall_time,
                         **({"health": m.health.record(trainer.step)} if m.health is not None else {}))


def run_loop(trainer: Any, cfg: Any, run_dir: Path | None, resumed: bool = False,
             wall_time: float = 0.0) -> dict[str, Any]:
    """One run (S = 1) through the one loop; returns its summary."""
    return run_stack(trainer, [cfg], None if run_dir is None else [run_dir], resumed, wall_time)[0]


def run_worker(trainer: Any) -> dict[str, Any]:
    """Ranks > 0 under torchrun: the same loop as rank 0, writing nothing."""
    summary = run_loop(trainer, trainer.cfg, None)
    return {**summary, "rank": trainer.rank}
