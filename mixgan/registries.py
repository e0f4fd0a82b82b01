"""The registries as the public API sees them: register a stabilizer, a toy data set or an image-GAN
model in-process (the entry points of another package do the same without code: docs/library.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mixgan._registry import Registry
from mixgan.errors import ConfigError


def registry(kind: str) -> Registry:
    """The registry of a kind: stabilizers, toy_data, image_gan_models, tasks, gan_objectives."""
    if kind == "stabilizers":
        from mixgan.objectives.plugins import STABILIZERS as reg
    elif kind == "toy_data":
        from mixgan.data import GAN_DATA as reg
    elif kind == "image_gan_models":
        from mixgan.models import IMAGE_GAN_MODELS as reg
    elif kind == "tasks":
        from mixgan.tasks import TASKS as reg
    elif kind == "gan_objectives":
        from mixgan.objectives.gan import GAN_OBJECTIVES

        return GAN_OBJECTIVES  # type: ignore[return-value]
    else:
        raise ConfigError(f"registry({kind!r}); accepted: stabilizers, toy_data, image_gan_models, tasks, "
                          "gan_objectives")
    return reg


def register_stabilizer(name: str, cls: type, *, replace: bool = False) -> type:
    """Add a stabilizer plugin (a mixgan.Stabilizer subclass); its section is stabilizers.<name>.
    The class is checked here (Settings, member_keys, metric_names, the hooks: objectives/plugins.py
    check_stabilizer); replace=True replaces a plugin registered before (a notebook cell run again)."""
    from mixgan.objectives.plugins import STABILIZERS

    return STABILIZERS.register(name, cls, replace=replace)


def register_toy_data(name: str, make: Callable[..., Any], reads: tuple[str, ...] = ("std",), *,
                      replace: bool = False) -> None:
    """Add a toy data set: make(std=, radius=, spacing=) -> a GaussianMixture-like object."""
    from mixgan.data import GAN_DATA, ToyDataSet

    GAN_DATA.register(name, ToyDataSet(make, tuple(reads)), replace=replace)


def register_image_model(name: str, build: Callable[[Any, int, int], tuple[Any, Any]], *,
                         replace: bool = False) -> None:
    """Add an image-GAN model: build(model_section, channels, size) -> (G, D) (`--model.name=<name>`)."""
    from mixgan.models import IMAGE_GAN_MODELS

    IMAGE_GAN_MODELS.register(name, build, replace=replace)
