"""Many toy-GAN seeds in one process: one batched trainer (trainers/gan_batched.py), a run dir per seed.

Each seed's run dir holds what its own run writes (config.yaml, metrics.jsonl, TensorBoard events,
pictures, checkpoint.pt, summary.json), with the same numbers on the CPU, and its checkpoint resumes
alone with `python -m mixgan.train --resume DIR`. The loop below is run_loop's (trainers/loop.py),
kept for S seeds in step: a seed that diverges stops logging and keeps its last good checkpoint
while the others go on; Ctrl-C checkpoints every running seed after the current iteration.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mixgan.errors import first_line

ENV = "MIXGAN_BATCH_SEEDS"  # 0: `--seeds` trains one seed after another instead


def batchable(cfg: Any) -> bool:
    """Whether `--seeds` can train this config's seeds batched (toy GAN MLPs, ERM or mixup)."""
    return (os.environ.get(ENV, "1") != "0" and cfg.task == "gan" and cfg.model.name == "mlp"
            and cfg.objective.name in ("erm", "mixup"))


class _SeedRun:
    """One seed's side of the loop: its trainer view, run dir, logger, status (what run_loop keeps)."""

    def __init__(self, trainer: Any, cfg: Any, run_dir: Path, index: int) -> None:
        from mixgan.config import to_dict
        from mixgan.runlog import RunLogger

        self.trainer, self.cfg, self.run_dir, self.index = trainer, cfg, run_dir, index
        self.logger = RunLogger(run_dir)
        self.status, self.diverged_at, self.last = "running", None, {}
        try:
            from mixgan import dashboard
        except ImportError:  # the dashboard is optional to this loop
            dashboard = None
        self.dashboard = dashboard
        if dashboard is not None:
            dashboard.start_run(self.logger.writer, trainer, to_dict(cfg))

    def close(self) -> None:
        if self.dashboard is not None:
            self.dashboard.end_run(self.logger.writer, self.status)
        self.logger.close()


def _save(batch: Any, run: _SeedRun, wall: float) -> None:
    from mixgan.checkpoint import CHECKPOINT, save_checkpoint
    from mixgan.trainers.loop import checkpoint_payload

    state = checkpoint_payload(run.trainer.step, run.cfg, wall, batch.seed_state(run.index))
    save_checkpoint(state, run.run_dir / CHECKPOINT)


def batched_loop(batch: Any, runs: list[_SeedRun]) -> list[dict[str, Any]]:
    """Train every seed until done, diverged or interrupted; write each summary.json; return them."""
    from tqdm.auto import tqdm

    from mixgan.trainers.loop import _StopFlag, diverged, measure_and_log, write_summary

    cfg = batch.cfg
    every = cfg.run.checkpoint_every
    start = time.perf_counter()
    bar = tqdm(total=batch.total, initial=batch.step, unit="it", dynamic_ncols=True,
               disable=not cfg.run.progress, desc=f"{len(runs)} seeds")
    try:
        with _StopFlag() as stop:
            while batch.step < batch.total and any(r.status == "running" for r in runs):
                batch.advance()
                bar.update(1)
                for run in (r for r in runs if r.status == "running"):
                    t = run.trainer
                    if t.measure_due():
                        run.last = measure_and_log(t, run.logger)
                        if diverged(run.last, t.watch_keys):
                            run.status, run.diverged_at = "diverged", t.step  # a result, not a crash
                            continue
                    if t.pictures_due():
                        t.pictures(run.logger)
                    elapsed = time.perf_counter() - start
                    if stop.requested:
                        run.status = "interrupted"
                        _save(batch, run, elapsed)
                    elif every and t.step % every == 0 and t.step < t.total:
                        _save(batch, run, elapsed)
            for run in runs:
                if run.status == "running":
                    run.status = "completed"
    finally:
        bar.close()
        for run in runs:
            run.close()
    wall = time.perf_counter() - start
    summaries = []
    for run in runs:
        if run.status == "completed":
            _save(batch, run, wall)
        summaries.append(write_summary(run.run_dir, run.trainer, run.status, run.diverged_at, run.last, wall,
                                       seeds_batched=len(runs)))
    return summaries


def train_seeds_batched(cfgs: list[Any]) -> list[dict[str, Any]]:
    """Make each seed's run dir (as run_one does: never reusing one), train the seeds batched, and
    return their summaries in order; a seed whose run dir cannot be made gets {"status": "failed",
    "error": ...} and the others train without it."""
    from mixgan.config import save_config
    from mixgan.errors import MixganError
    from mixgan.rundir import new_run_dir
    from mixgan.train import resolve_device
    from mixgan.trainers.gan_batched import BatchedGanTrainer
    from mixgan.trainers.loop import print_summary

    device = resolve_device(cfgs[0].device)
    results: list[dict[str, Any]] = [{} for _ in cfgs]
    dirs: dict[int, Path] = {}
    for i, cfg in enumerate(cfgs):
        name = cfg.run.name or f"{cfg.data.name}-{cfg.objective.name}-s{cfg.seed}"
        try:
            dirs[i] = new_run_dir(cfg.run.dir, name, unique=not cfg.run.name)
        except MixganError as err:
            results[i] = {"status": "failed", "error": f"{type(err).__name__}: {err}", "final": {}}
            continue
        save_config(cfg, dirs[i] / "config.yaml")
    if dirs:
        batch = BatchedGanTrainer([cfgs[i] for i in dirs], device)
        runs = [_SeedRun(t, cfgs[i], dirs[i], k) for k, (i, t) in enumerate(zip(dirs, batch.seeds))]
        for i, summary in zip(dirs, batched_loop(batch, runs)):
            results[i] = summary
            print_summary(summary, batch.seeds[0].summary_keys)
    return results


def run_batched(runs: list[Any]) -> list[Any]:
    """`--seeds` (mixgan/seeds.py): train its SeedRuns batched and fill in status, final, time, error.

    A seed whose run dir cannot be made fails alone; a crash of the batched step fails the seeds
    still running (each gets a failed summary.json), like a crash of one sequential run.
    """
    from mixgan.config import config_from_dict
    from mixgan.rundir import provenance, write_json_atomic
    from mixgan.trainers.loop import SUMMARY

    start = time.perf_counter()
    try:
        summaries = train_seeds_batched([config_from_dict(r.config) for r in runs])
    except Exception as err:  # the whole batch failed: every seed records it
        import sys
        import traceback

        traceback.print_exc(file=sys.stderr)
        error = first_line(err)
        for r in runs:
            r.status, r.error, r.wall_time_s = "failed", error, time.perf_counter() - start
            if r.run_dir.is_dir() and not (r.run_dir / SUMMARY).exists():
                write_json_atomic(r.run_dir / SUMMARY, {
                    "status": "failed", "error": error, "step": None, "total": None, "diverged_at": None,
                    "final": {}, "wall_time_s": round(r.wall_time_s, 3), "run_dir": str(r.run_dir),
                    "versions": provenance()})
        return runs
    for r, summary in zip(runs, summaries):
        r.status, r.final = summary["status"], dict(summary["final"])
        r.error = summary.get("error", "")
        r.wall_time_s = float(summary.get("wall_time_s", time.perf_counter() - start))
    return runs
