"""Your own loop, logged as a mixgan run: `run_logger` writes config.yaml, metrics.jsonl, TensorBoard
events and summary.json in the format `python -m mixgan.train` writes (rundir/logger.py, rundir/paths.py,
trainers/loop.write_summary), so `python -m mixgan.compare` reports your runs over seeds, with a column
for every metric you logged. `probe_discriminator` measures your D as mixgan's runs are measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mixgan.errors import ConfigError
from mixgan.tasks import CUSTOM_TASK


class RunLog:
    """An open run dir: `log(step, {"name": value})` appends one row (TensorBoard tag = jsonl key)."""

    def __init__(self, run_dir: Path, logger: Any) -> None:
        self.run_dir, self._logger = run_dir, logger
        self.step, self.last, self.diverged_at = 0, {}, None

    def log(self, step: int, metrics: Mapping[str, float | Tensor]) -> None:
        if not isinstance(step, int) or step < 0:
            raise ConfigError(f"RunLog.log(step={step!r}); accepted: an integer >= 0")
        values = {k: float(v.detach()) if isinstance(v, Tensor) else float(v) for k, v in metrics.items()}
        self._logger.log(step, values)
        self.step, self.last = step, {**self.last, **values}
        if self.diverged_at is None and not all(math.isfinite(v) for v in values.values()):
            self.diverged_at = step


@contextmanager
def run_logger(*, dir: str | Path = "runs", name: str = "", seed: int = 0, total: int | None = None,
               config: Mapping[str, Any] | None = None, loss: Any = None) -> Iterator[RunLog]:
    """A run dir for a loop of your own: `with mixgan.run_logger(dir="runs/mine", seed=s, total=steps,
    loss=loss, config={"method": "mine"}) as run: ... run.log(step, {...})`.

    config: the settings that make this run's experiment (nested dicts allowed; runs that differ only
    in `seed` are pooled by compare). loss: the mixgan.GANLoss your loop uses, recorded whole as
    train_gan records it (the objective's keys, every stabilizer, those off as off). total: the planned
    length, recorded as `train.steps` (compare's run length). The summary's status: completed, diverged
    (a logged value was not finite), interrupted (Ctrl-C) or failed (an exception, re-raised).
    """
    from mixgan.config.core import flatten
    from mixgan.rundir.logger import RunLogger
    from mixgan.rundir.paths import new_run_dir
    from mixgan.trainers.loop import Member, write_summary

    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"run_logger(seed={seed!r}); accepted: an integer >= 0")
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 1):
        raise ConfigError(f"run_logger(total={total!r}); accepted: an integer >= 1 or None")
    data = dict(config or {})
    if {"task", "seed"} & set(data):
        raise ConfigError("run_logger(config=...): task and seed are set by run_logger; accepted: other keys")
    flat = flatten(data)  # nested mappings of plain values
    if loss is not None:
        from mixgan.api.losses import GANLoss
        from mixgan.api.train import record_loss

        if not isinstance(loss, GANLoss):
            raise ConfigError(f"run_logger(loss={type(loss).__name__}); accepted: a mixgan.GANLoss or None")
        if {"objective", "stabilizers"} & set(data):
            raise ConfigError("run_logger(config=...): objective and stabilizers are recorded from loss=; "
                              "accepted: one of the two")
        objective, stabilizers = record_loss(loss)
        data.update(objective=objective, stabilizers=stabilizers)
    if total is not None:
        if flat.get("train.steps", total) != total:
            raise ConfigError(f"run_logger(total={total}): config's train.steps is {flat['train.steps']!r}; "
                              "accepted: the same length, or one of the two")
        if not isinstance(data.get("train", {}), Mapping):
            raise ConfigError("run_logger(config=...): train is a value; accepted: a section (a dict)")
        data["train"] = {**data.get("train", {}), "steps": total}
    record = {"task": CUSTOM_TASK, "seed": seed, **data}
    run_dir = new_run_dir(dir, name or f"run-s{seed}", unique=not name)
    import yaml

    (run_dir / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    logger = RunLogger(run_dir)
    run, status, error, start = RunLog(run_dir, logger), "completed", None, time.perf_counter()
    try:
        yield run
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException as err:
        status, error = "failed", err
        raise
    finally:
        logger.close()
        m = Member(0, record, run_dir)
        m.status = "diverged" if status == "completed" and run.diverged_at is not None else status
        m.diverged_at, m.last = run.diverged_at, run.last
        if error is not None:
            m.fail(error)
        progress = type("Progress", (), {"step": run.step, "total": total if total is not None else run.step})
        write_summary(m, progress, time.perf_counter() - start)  # type: ignore[arg-type]


def probe_discriminator(D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                        logits: bool = True) -> dict[str, float]:
    """mixgan's stability probes on your D (metrics/stability.py): σ(D) (or raw critic outputs with
    logits=False) on real and fake points, and ‖∇ₓD‖ at real, fake and mixed points."""
    from mixgan.metrics.stability import probe_discriminator as probe

    gen = generator or torch.Generator(real.device).manual_seed(0)
    return {k: float(v) for k, v in probe(D, real, fake, gen, probability=logits).items()}


def compare_runs(paths: list[str | Path], out: str | Path, **options: Any) -> str:
    """`python -m mixgan.compare` as a function: the Markdown table (table.md, table.csv, plots in out)."""
    from mixgan.compare import compare

    return compare(paths, out, **options)[2]
