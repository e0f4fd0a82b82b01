"""What a toy-GAN run logs to TensorBoard's HParams: the config keys it reads, from the registries of
data sets, objectives and stabilizers. The trainer hands the result to the dashboard (rundir/dashboard.py,
`hparams_for`), which knows no registry.
"""

from __future__ import annotations

from typing import Any

from mixgan.data import GAN_DATA
from mixgan.objectives.gan import GAN_OBJECTIVES
from mixgan.objectives.plugins import unused_keys
from mixgan.rundir.dashboard import used_hparams

# Config keys a toy-GAN run logs to HParams only where they mean something: model.name has one value,
# task is always gan, and metrics.image_every only times the pictures (no number depends on it).
CONSTANT_HPARAMS = ("task", "model.name", "metrics.image_every")


def toy_gan_hparams(config: dict[str, Any], device_type: str) -> dict[str, float | str | bool]:
    """The keys a toy-GAN run reads, for TensorBoard's HParams: the objective's `reads` (ERM has no α),
    the data set's keys (a grid has no radius), no constant key, and train.tf32 only on CUDA."""
    reads = {"objective": GAN_OBJECTIVES[config["objective"]["name"]].reads,
             "data": GAN_DATA[config["data"]["name"]].reads}
    drop = (*CONSTANT_HPARAMS, *(() if device_type == "cuda" else ("train.tf32",)),
            *unused_stabilizers(config), *unused_protocol(config))
    return used_hparams(config, reads, drop)


def unused_protocol(config: dict[str, Any]) -> tuple[str, ...]:
    """Model and training keys this run does not read: G's and D's own sections when unset, maxout's
    pieces without a maxout network, init_std with PyTorch's init, what a batch counts without packing,
    the training-set size with fresh draws."""
    model, train = config.get("model", {}), config.get("train", {})
    off = [f"model.{net}.{k}" for net in ("g", "d") for k in ("name", "hidden", "depth", "bias")
           if model.get(net, {}) in ({}, {"name": "", "hidden": 0, "depth": 0, "bias": True})]
    families = {model.get("name"), *(model.get(net, {}).get("name") for net in ("g", "d"))}
    off += [] if "maxout" in families else ["model.maxout_pieces"]
    off += [] if model.get("init") == "normal" else ["model.init_std"]
    pack = config.get("stabilizers", {}).get("pack", 1)
    off += [] if pack > 1 else ["train.batch_of"]
    off += [] if train.get("dataset_size") else ["train.dataset_size"]
    return tuple(off)


def unused_stabilizers(config: dict[str, Any]) -> tuple[str, ...]:
    """Keys of the stabilizers that are off (a penalty of weight 0, no noise, no bCR, pack 1, no EMA)."""
    off = unused_keys(config.get("stabilizers", {}))  # from the one stabilizer registry
    return (*off, *(("train.ema",) if not config.get("train", {}).get("ema") else ()))
