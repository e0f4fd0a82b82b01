"""The one task registry: a task's config schema, its validator and its trainer, read by the config
(`task:` key), `python -m mixgan.train`, sweeps and seed groups alike. Each part is a "module:attr"
string imported when used (no work at import time, no import cycle). Other packages add tasks through
the entry-point group "mixgan.tasks" (a `Task`)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from mixgan._registry import Registry


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Task:
    schema: str  # "module:Class" of the config dataclass tree
    validate: str  # "module:function" that rejects values no run can use
    trainer: str  # "module:Class" of the trainer (built as Trainer(cfg, device))


# What a run of a loop of the user's own records as its task (mixgan.run_logger): no schema, no trainer;
# readers (compare, run-dir checks) take its config as it is and its logged metrics as columns.
CUSTOM_TASK = "custom"

TASKS = Registry("task", "mixgan.tasks")
TASKS.register("gan", Task("mixgan.config.gan:GanConfig", "mixgan.config.gan:validate_gan",
                           "mixgan.trainers.gan:GanTrainer"))
TASKS.register("classify", Task("mixgan.config.classify:ClassifyConfig",
                                "mixgan.config.classify:validate_classify",
                                "mixgan.trainers.classifier:ClassifierTrainer"))
TASKS.register("image_gan", Task("mixgan.config.image_gan:ImageGanConfig",
                                 "mixgan.config.image_gan:validate_image_gan",
                                 "mixgan.trainers.image_gan:ImageGanTrainer"))
TASKS.seal()


def schema_of(task: str) -> tuple[type, Any]:
    """The config schema and validator of a task (ConfigError for an unknown task)."""
    t = TASKS[task]
    return _load(t.schema), _load(t.validate)


def trainer_class(task: str) -> type:
    """The trainer class of a task (ConfigError for an unknown task)."""
    return _load(TASKS[task].trainer)
