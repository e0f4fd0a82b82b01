"""Your own loop, logged as a mixgan run: `run_logger` writes config.yaml, metrics.jsonl, TensorBoard
events and summary.json in the format `python -m mixgan.train` writes (rundir/logger.py, rundir/paths.py,
trainers/loop.write_summary), so `python -m mixgan.compare` reports your runs over seeds, with a column
for every metric you logged. `probe_discriminator` measures your D as mixgan's runs are measured.
"""

from __future__ import annotations

import math
import numbers
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mixgan.errors import ConfigError
from mixgan.tasks import CUSTOM_TASK

# A metric name is a TensorBoard tag and a jsonl key at once (docs/design.md, habit 5): ASCII words
# joined by single slashes, as TensorBoard keeps a tag unchanged (it rewrites other characters to `_`,
# and the two names would differ); `step` and `time` are the row's own keys.
_NAME = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
MAX_NAME = 128
_RESERVED = ("step", "time")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def check_metric(name: Any, value: Any, where: str) -> None:
    """A one-line ConfigError for a bad metric name or value (nothing is read back from a device).

    Names: see _NAME, at most MAX_NAME characters, not `step`/`time`. Values: real numbers (int,
    float, a numpy scalar, a one-element real tensor); bools, text, None and longer tensors are refused.
    NaN and ±inf are numbers: they are recorded, and the run is marked diverged (as the train command
    records a non-finite loss)."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or not _NAME.fullmatch(name) \
            or name in _RESERVED:
        raise ConfigError(f"{where}: metric name {_short(name)}; accepted: 1 to {MAX_NAME} characters "
                          "A-Z a-z 0-9 _ . - in parts joined by single slashes (loss/D), not step or time")
    if isinstance(value, Tensor):
        if value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool:
            return
        what = f"a tensor of shape {tuple(value.shape)} ({value.dtype})"
    elif isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return
    else:
        what = _short(value)
    raise ConfigError(f"{where}: {name!r} is {what}; accepted: a real number or a one-element real tensor "
                      "(NaN and inf are recorded as a divergence)")


def check_metrics(metrics: Any, where: str) -> dict[str, float]:
    """The metrics of one row as floats, each checked by check_metric."""
    if not isinstance(metrics, Mapping):
        raise ConfigError(f"{where}: metrics are a {type(metrics).__name__}; accepted: a mapping of names to "
                          "numbers")
    for name, value in metrics.items():
        check_metric(name, value, where)
    return {k: float(v.detach()) if isinstance(v, Tensor) else float(v) for k, v in metrics.items()}


class RunLog:
    """An open run dir: `log(step, {"name": value})` appends one row (TensorBoard tag = jsonl key)."""

    def __init__(self, run_dir: Path, logger: Any, total: int | None = None) -> None:
        self.run_dir, self._logger, self.total = run_dir, logger, total
        self.step, self.last, self.diverged_at = 0, {}, None

    def log(self, step: int, metrics: Mapping[str, float | Tensor]) -> None:
        """Append one row. A NaN or inf value is recorded as it is and marks the run diverged (its
        summary's status, and diverged_at the first such step); bad names and values are refused."""
        limit = self.total if self.total is not None else 2**63 - 1
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= limit:
            accepted = f"0 to the run's total {self.total}" if self.total is not None else ">= 0"
            raise ConfigError(f"RunLog.log(step={_short(step)}); accepted: an integer {accepted}")
        values = check_metrics(metrics, f"RunLog.log(step={step})")
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
    from mixgan.rundir.paths import new_run_dir, run_dir_lock, write_text_atomic
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
    # The run dir's lock for as long as the loop logs, as the train command holds it: a second process
    # (a train_gan(resume=...) of it, another logger) is refused in one line instead of interleaving rows.
    with run_dir_lock([run_dir]):
        import yaml

        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))
        logger = RunLogger(run_dir)
        run, status, error = RunLog(run_dir, logger, total), "completed", None
        start = time.perf_counter()
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
            length = total if total is not None else run.step
            progress = type("Progress", (), {"step": run.step, "total": length})
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
