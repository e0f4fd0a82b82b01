"""mixgan: mixup-regularized GAN and classifier training (Zhang et al., ICLR 2018)."""

import os as _os

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning (issue 11). libgomp's default spins
# for a while after every parallel region; with two runs on 2 cores the spinning threads take the
# cores from the working ones, and each run became 3-13x slower instead of 2x (BENCHMARKS.md,
# "Shared CPU"). libgomp reads this when torch loads it, so it is set before anything imports torch;
# a value the user set wins, and MIXGAN_OMP_DEFAULTS=0 leaves OpenMP's own default.
if _os.environ.get("MIXGAN_OMP_DEFAULTS", "1") != "0":
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The public API (docs/library.md), imported on first use (PEP 562), so `import mixgan` stays cheap:
# name -> "module:attribute".
_EXPORTS = {
    # objectives and stabilizers for any PyTorch loop (mixgan/api/losses.py)
    **{name: f"mixgan.api.losses:{name}" for name in (
        "GANLoss", "ERM", "Mixup", "R1", "R2", "WGANGP", "DRAGAN", "InstanceNoise", "PacGAN",
        "BalancedConsistency", "LeCam", "DiffAugment", "CutMixD", "MixConsistency", "MixBCR", "AdaptiveMix",
        "stabilizer")},
    "SplitD": "mixgan.models.split:SplitD",  # D = head ∘ features, for AdaptiveMix
    # writing a stabilizer plugin (mixgan/objectives/plugins.py)
    "Stabilizer": "mixgan.objectives.plugins:Stabilizer",
    "config_check": "mixgan.config.core:check",
    # registries: plugins register here or through entry points (mixgan/registries.py)
    **{name: f"mixgan.registries:{name}" for name in (
        "register_stabilizer", "register_toy_data", "register_image_model", "registry")},
    # your G and D through mixgan's loop (mixgan/api/train.py); your loop logged as mixgan's runs
    "train_gan": "mixgan.api.train:train_gan",
    **{name: f"mixgan.api.runlog:{name}" for name in ("run_logger", "probe_discriminator", "compare_runs")},
    "ConfigError": "mixgan.errors:ConfigError",
    "MixganError": "mixgan.errors:MixganError",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'mixgan' has no attribute {name!r}")
    import importlib

    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
