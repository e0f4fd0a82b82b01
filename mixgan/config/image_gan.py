"""Config schema of `task: image_gan`: DCGAN on Stacked digits, digits, CIFAR, MNIST or an ImageFolder,
with the ERM or mixup objective (paper §3.7 on images) and metrics through torch-fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mixgan.config.core import check, check_choice
from mixgan.config.gan import (
    GanObjective,
    GanStabilizers,
    RunSection,
    check_device,
    check_gan_objective,
    check_gan_train,
    check_run,
    check_stabilizers,
    default_stabilizers,
)

EMBEDDED_IMAGES = ("digits", "stacked_digits")  # no download, digit-classifier metrics
LOCAL_IMAGES = ("cifar10", "cifar100", "mnist", "fashion_mnist", "image_folder")  # read from data.root


@dataclass
class ImageData:
    """Images scaled to [-1, 1] for the Tanh generator."""

    # stacked_digits | digits | cifar10 | cifar100 | mnist | fashion_mnist | image_folder
    name: str = "stacked_digits"
    root: str = "data"  # folder holding the local data sets (never downloaded)
    n: int = 50000  # stacked_digits: training images drawn from the 1,797 digits (1,000 modes)
    image_size: int = 0  # 0: the data's own size (8 digits, 28 MNIST, 32 CIFAR); image_folder needs one


@dataclass
class ImageModel:
    """DCGAN generator (batch norm) and discriminator (Radford et al. 2016)."""

    name: str = "dcgan"
    latent_dim: int = 100
    g_base: int = 64  # channels of G's last hidden layer (doubling towards the input)
    d_base: int = 64  # channels of D's first layer (doubling towards the output)
    spectral_norm: bool = False  # spectral norm on every conv of D (Miyato et al. 2018)
    d_batch_norm: bool = True


@dataclass
class ImageObjective(GanObjective):
    """ERM or mixup D objective; on images the paper's formula: real–fake pairs, λ ~ Beta(α, α)."""

    lam: str = "beta"
    pairs: str = "real_fake"
    g_loss: str = "non_saturating"  # the DCGAN generator loss


@dataclass
class ImageTrain:
    """DCGAN optimization: Adam(2e-4, β1 = 0.5), one D step per G step, batch 64 per process."""

    iterations: int = 2000  # generator steps
    batch_size: int = 64  # per process under torchrun
    d_steps: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.999  # decay of the EMA of G's weights, evaluated separately (0: no EMA)
    amp: bool = True  # bfloat16 autocast, on CUDA only
    channels_last: bool = True  # on CUDA only


@dataclass
class ImageMetrics:
    """Stability every `every` iterations; image quality (torch-fidelity, modes) every `fid_every`."""

    every: int = 100  # iterations between stability read-backs (losses, D outputs, gradient norms)
    image_every: int = 500  # iterations between fixed-noise sample grids (0: only at the end)
    fid_every: int = 1000  # iterations between quality measurements (0: only at the end)
    n_samples: int = 5000  # generated images (and reference images) per quality measurement
    extractors: list[str] = field(default_factory=lambda: ["auto"])  # auto | digits | inception; []: none
    inception_weights: str = ""  # torch-fidelity's inception-v3-compat weights file (else torch hub cache)
    kid_subsets: int = 20  # torch-fidelity's default is 100 (subsets of kid_subset_size images)
    kid_subset_size: int = 1000
    cache_dir: str = "~/.cache/mixgan"  # digit classifier and reference statistics, computed once
    classifier_epochs: int = 8  # training of the digit classifier (the offline feature extractor)
    classifier_width: int = 16


@dataclass
class ImageGanConfig:
    """An image GAN run."""

    task: str = "image_gan"
    seed: int = 0
    device: str = "auto"
    data: ImageData = field(default_factory=ImageData)
    model: ImageModel = field(default_factory=ImageModel)
    objective: ImageObjective = field(default_factory=ImageObjective)
    stabilizers: GanStabilizers = field(default_factory=default_stabilizers)
    train: ImageTrain = field(default_factory=ImageTrain)
    metrics: ImageMetrics = field(default_factory=ImageMetrics)
    run: RunSection = field(default_factory=RunSection)


def resolved_extractors(cfg: ImageGanConfig) -> list[str]:
    """`auto` → digits for the embedded digit data, inception otherwise; duplicates removed."""
    auto = "digits" if cfg.data.name in EMBEDDED_IMAGES else "inception"
    out = [auto if e == "auto" else e for e in cfg.metrics.extractors]
    return sorted(set(out), key=out.index)


def validate_image_gan(cfg: ImageGanConfig) -> None:
    """Reject values no image GAN run can use, with the key and what is accepted."""
    from mixgan.models.dcgan import dcgan_plan

    check_device(cfg.device)
    check_run(cfg.run)
    check(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    d = cfg.data
    check_choice(d.name, "data.name", EMBEDDED_IMAGES + LOCAL_IMAGES)
    check(d.n >= 1, "data.n", "an integer >= 1", d.n)
    check(d.name != "image_folder" or d.image_size > 0, "data.image_size",
          "a size > 0 with data.name=image_folder (e.g. 32)", d.image_size)
    check(d.image_size >= 0, "data.image_size", "0 (the data's own size) or a size > 0", d.image_size)
    if d.image_size:
        try:
            dcgan_plan(d.image_size)
        except ValueError:
            check(False, "data.image_size", "0 or s·2^k with 4 <= s <= 7, k >= 1 (8, 16, 28, 32, 64)",
                  d.image_size)
    from mixgan.models import IMAGE_GAN_MODELS

    check_choice(cfg.model.name, "model.name", IMAGE_GAN_MODELS)
    for key in ("latent_dim", "g_base", "d_base"):
        check(getattr(cfg.model, key) >= 1, f"model.{key}", "an integer >= 1", getattr(cfg.model, key))
    check_gan_objective(cfg.objective)
    tr = cfg.train
    check_gan_train(tr)
    check(tr.batch_size >= 2, "train.batch_size", "an integer >= 2 (batch norm)", tr.batch_size)
    check(0 <= tr.ema < 1, "train.ema", "a number in [0, 1)", tr.ema)
    check_stabilizers(cfg.stabilizers, tr.batch_size, toy=False)
    m = cfg.metrics
    for key in ("every", "n_samples", "kid_subsets", "kid_subset_size", "classifier_epochs",
                "classifier_width"):
        check(getattr(m, key) >= 1, f"metrics.{key}", "an integer >= 1", getattr(m, key))
    check(m.n_samples >= 10, "metrics.n_samples", "an integer >= 10", m.n_samples)
    for key in ("image_every", "fid_every"):
        check(getattr(m, key) >= 0, f"metrics.{key}", "an integer >= 0", getattr(m, key))
    for e in m.extractors:
        check_choice(e, "metrics.extractors[]", ["auto", "digits", "inception"])
    check("digits" not in resolved_extractors(cfg) or d.name in EMBEDDED_IMAGES, "metrics.extractors",
          f"digits only with data.name in {', '.join(EMBEDDED_IMAGES)}", m.extractors)
    check(not m.inception_weights or Path(m.inception_weights).expanduser().is_file(),
          "metrics.inception_weights", "an existing file (torch-fidelity's inception-v3-compat weights)",
          m.inception_weights)
    check(bool(m.cache_dir), "metrics.cache_dir", "a folder path", m.cache_dir)
