"""One run of a config: its device, its trainer (refused in one line when it cannot fit), its run dir.

Shared by the train command (mixgan/train.py) and the seeds of a group (experiments/seeds.py).
"""

from __future__ import annotations

from typing import Any

import torch

from mixgan.config.core import save_config
from mixgan.errors import ConfigError, first_line
from mixgan.tasks import trainer_class


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA without one is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name} requested but CUDA is not available; accepted: auto, cpu")
    return torch.device(name)


def make_trainer(cfg: Any) -> Any:
    """The task's trainer on its device, refused in one line when it cannot fit in memory."""
    from mixgan.experiments.fits import check_fits

    trainer = trainer_class(cfg.task)
    device = resolve_device(cfg.device)
    check_fits(cfg, device)  # an estimate, before anything is allocated
    try:
        return trainer(cfg, device)
    except (MemoryError, RuntimeError) as err:  # torch.OutOfMemoryError is a RuntimeError
        if not isinstance(err, MemoryError | torch.OutOfMemoryError) and "memory" not in str(err):
            raise
        raise ConfigError(f"the run does not fit in {device.type} memory ({first_line(err)}); "
                          "accepted: smaller sizes") from None


def run_one(cfg: Any, trainer: Any | None = None) -> dict[str, Any]:
    """Create the run dir (never reusing one), save the config, train, return the summary."""
    from mixgan.rundir.paths import new_run_dir
    from mixgan.trainers.loop import print_summary, run_loop

    trainer = trainer or make_trainer(cfg)
    if getattr(trainer, "rank", 0) != 0:  # a torchrun worker: rank 0 alone writes the run dir
        return trainer.run_worker()
    name = cfg.run.name or f"{cfg.data.name}-{cfg.objective.name}-s{cfg.seed}"
    run_dir = new_run_dir(cfg.run.dir, name, unique=not cfg.run.name)
    try:
        save_config(cfg, run_dir / "config.yaml")
    except OSError:  # a full disk before the run started: leave no half-made run dir behind
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    summary = run_loop(trainer, cfg, run_dir)
    print_summary(summary, trainer.summary_keys)
    return summary
