"""Config schema of the `classify` task (ERM / mixup classifiers, Zhang et al. 2018 §3.1–3.5).

The built-in defaults are the digits preset (configs/classify/digits.yaml holds the same values;
a test keeps the two equal), so `python -m mixgan.train --task classify [--mixup]` runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mixgan.config.core import check, check_choice
from mixgan.config.gan import RunSection, check_device, check_run


@dataclass
class ClassifyData:
    """Embedded sets (digits, tabular, 2-D toys) or local folders under `root` (never downloaded)."""

    name: str = "digits"  # digits | iris | wine | breast_cancer | moons | blobs | cifar10 | ...
    root: str = "data"  # folder holding local data sets (cifar-10-batches-py/, MNIST/raw/, train/, <word>/)
    test_fraction: float = 0.2  # embedded sets: stratified held-out fraction
    split_seed: int = 0  # embedded sets: seed of the split (-1: the run's seed)
    augment: bool = False  # random crop (zero padding `pad`) + horizontal flip, batched on the device
    pad: int = 4  # crop padding (official CIFAR recipe: 4)
    flip: bool = True  # horizontal flip as part of `augment`
    corrupt: float = 0.0  # fraction of training labels replaced by random ones (paper Table 2)
    corrupt_seed: int = 0  # seed of the corruption (fixed across runs)
    corrupt_exclude_true: bool = False  # draw from the other classes: exactly `corrupt` of labels wrong
    image_size: int = 224  # imagefolder: crop size
    workers: int = 4  # imagefolder: DataLoader worker processes; speech_commands: WAV reader threads
    n_mels: int = 64  # speech_commands: mel bands (0: the paper's linear log-magnitude spectrogram, 161 bins)


@dataclass
class ClassifyModel:
    """small_cnn (digits), mlp (tabular, 2-D), preact_resnet18 (official CIFAR net), wide_resnet,
    lenet / vgg11 (the paper's speech nets), resnet50 / resnet101 / resnext101_32x4d (torchvision)."""

    name: str = "small_cnn"
    width: int = 16  # small_cnn / lenet / vgg11: first-stage channels (lenet 20, vgg11 64 in the paper)
    hidden: int = 64  # small_cnn / mlp / lenet / vgg11: hidden units (lenet 1000, vgg11 512 in the paper)
    depth: int = 0  # mlp: hidden layers; wide_resnet: depth (6n+4); 0: the model's default (2, 28)
    widen: int = 10  # wide_resnet: widening factor
    dropout: float = 0.0  # dropout probability (paper Table 2 compares it with mixup)


@dataclass
class ClassifyObjective:
    """erm or mixup (paper Eq. 1), with the ablation options of paper Table 5."""

    name: str = "erm"  # erm | mixup
    alpha: float = 1.0  # λ ~ Beta(α, α) (CIFAR: 1; corrupted labels: 8, 32)
    lam: str = "beta"  # beta | uniform (λ ~ U(0, α))
    per_sample: bool = False  # one λ per batch (paper, official code) or one per example
    pairing: str = "random"  # random | same_class | other_class (Table 5: RP, SC)
    neighbors: int = 0  # 0: partner from the batch; k > 0: from the k nearest training examples (KNN)
    mix_labels: bool = True  # False: mix inputs only, target y_i (Table 5 "mix inputs only")
    mix_layer: int = 0  # 0: mix inputs; k ≥ 1: mix hidden layer k (Table 5 "latent representations")
    label_smoothing: float = 0.0  # ε of label smoothing (Table 5)
    input_noise: float = 0.0  # std of Gaussian noise added to the inputs (Table 5)
    erm_epochs: int = 0  # the first k epochs train with ERM, then this objective (paper §3.3 speech: 5)


@dataclass
class ClassifyTrain:
    """SGD with momentum, weight decay and lr ÷10 at milestones (official CIFAR recipe), or Adam."""

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"  # sgd | adam
    lr: float = 0.001
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0001
    milestones: list[int] = field(default_factory=lambda: [20])  # epochs where lr is divided by 10
    gamma: float = 0.1  # lr factor at each milestone
    warmup_epochs: int = 0  # linear lr warm-up, per step, from warmup_lr to lr (Goyal et al. 2017; §3.1)
    warmup_lr: float = 0.0  # the lr of the first step of the warm-up
    amp: bool = True  # bf16 autocast (CUDA only; ignored on the CPU)
    channels_last: bool = True  # channels_last memory format for images (CUDA only)


@dataclass
class ClassifyMetrics:
    """Test metrics every `every` epochs; pictures every `image_every` epochs (0: at the end only,
    -1: never)."""

    every: int = 1
    image_every: int = 0
    ece_bins: int = 15  # expected calibration error bins (Guo et al. 2017)
    eval_batch_size: int = 1000


@dataclass
class ClassifyRun(RunSection):
    checkpoint_every: int = 10  # epochs between checkpoints (0: only at the end)


@dataclass
class ClassifyConfig:
    """A classifier run."""

    task: str = "classify"
    seed: int = 0
    device: str = "auto"
    data: ClassifyData = field(default_factory=ClassifyData)
    model: ClassifyModel = field(default_factory=ClassifyModel)
    objective: ClassifyObjective = field(default_factory=ClassifyObjective)
    train: ClassifyTrain = field(default_factory=ClassifyTrain)
    metrics: ClassifyMetrics = field(default_factory=ClassifyMetrics)
    run: ClassifyRun = field(default_factory=ClassifyRun)


MODELS = ("small_cnn", "mlp", "preact_resnet18", "wide_resnet", "lenet", "vgg11", "resnet50", "resnet101",
          "resnext101_32x4d")
OBJECTIVES = ("erm", "mixup")
PAIRINGS = ("random", "same_class", "other_class")


def validate_classify(cfg: ClassifyConfig) -> None:
    """Reject values no classifier run can use, with the key and what is accepted."""
    from mixgan.data.classify import CLASSIFY_DATA, IN_MEMORY, VECTOR_DATA

    check_device(cfg.device)
    check_run(cfg.run)
    check(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    d = cfg.data
    check_choice(d.name, "data.name", CLASSIFY_DATA)
    check(0 < d.test_fraction < 1, "data.test_fraction", "a number in (0, 1)", d.test_fraction)
    check(d.split_seed >= -1, "data.split_seed", "an integer >= -1", d.split_seed)
    check(d.pad >= 0, "data.pad", "an integer >= 0", d.pad)
    check(0 <= d.corrupt <= 1, "data.corrupt", "a number in [0, 1]", d.corrupt)
    check(d.image_size >= 8, "data.image_size", "an integer >= 8", d.image_size)
    check(d.workers >= 0, "data.workers", "an integer >= 0", d.workers)
    check(d.n_mels >= 0, "data.n_mels", "an integer >= 0 (0: linear spectrogram)", d.n_mels)
    check(not (d.augment and d.name in VECTOR_DATA), "data.augment",
          "false for tabular and 2-D data (crop/flip need images)", d.augment)
    check(not (d.augment and d.name == "speech_commands"), "data.augment",
          "false for speech_commands (crop/flip are image augmentations)", d.augment)
    m = cfg.model
    check_choice(m.name, "model.name", MODELS)
    check(m.name != "mlp" or d.name in VECTOR_DATA, "model.name",
          f"not mlp for image data ({d.name}): {', '.join(x for x in MODELS if x != 'mlp')}", m.name)
    check(m.name == "mlp" or d.name not in VECTOR_DATA, "model.name",
          f"mlp for tabular and 2-D data ({d.name})", m.name)
    for key in ("width", "hidden", "widen"):
        check(getattr(m, key) >= 1, f"model.{key}", "an integer >= 1", getattr(m, key))
    check(m.depth >= 0, "model.depth", "an integer >= 0 (0: the model's default)", m.depth)
    check(m.name != "wide_resnet" or m.depth == 0 or (m.depth - 4) % 6 == 0, "model.depth",
          "6n+4 for wide_resnet (e.g. 28), or 0", m.depth)
    check(0 <= m.dropout < 1, "model.dropout", "a number in [0, 1)", m.dropout)
    o = cfg.objective
    check_choice(o.name, "objective.name", OBJECTIVES)
    check(o.alpha > 0, "objective.alpha", "a number > 0", o.alpha)
    check_choice(o.lam, "objective.lam", ["beta", "uniform"])
    check(o.lam != "uniform" or o.alpha <= 1, "objective.alpha",
          "a number in (0, 1] with objective.lam=uniform", o.alpha)
    check_choice(o.pairing, "objective.pairing", PAIRINGS)
    check(o.neighbors >= 0, "objective.neighbors", "an integer >= 0", o.neighbors)
    check(o.neighbors == 0 or d.name in IN_MEMORY, "objective.neighbors",
          "0 for folder data sets (KNN partners need the data in memory)", o.neighbors)
    max_layer = (m.depth or 2) if m.name == "mlp" else 3
    check(0 <= o.mix_layer <= max_layer, "objective.mix_layer", f"an integer in 0..{max_layer}", o.mix_layer)
    check(o.mix_layer == 0 or o.neighbors == 0, "objective.mix_layer",
          "0 with objective.neighbors > 0 (KNN partners are mixed at the input)", o.mix_layer)
    check(0 <= o.label_smoothing < 1, "objective.label_smoothing", "a number in [0, 1)", o.label_smoothing)
    check(o.input_noise >= 0, "objective.input_noise", "a number >= 0", o.input_noise)
    check(o.erm_epochs >= 0, "objective.erm_epochs", "an integer >= 0", o.erm_epochs)
    t = cfg.train
    for key in ("epochs", "batch_size"):
        check(getattr(t, key) >= 1, f"train.{key}", "an integer >= 1", getattr(t, key))
    check_choice(t.optimizer, "train.optimizer", ["adam", "sgd"])
    check(t.lr > 0, "train.lr", "a number > 0", t.lr)
    check(0 <= t.momentum < 1, "train.momentum", "a number in [0, 1)", t.momentum)
    check(t.weight_decay >= 0, "train.weight_decay", "a number >= 0", t.weight_decay)
    check(all(e >= 1 for e in t.milestones) and t.milestones == sorted(set(t.milestones)),
          "train.milestones", "increasing epochs >= 1", t.milestones)
    check(0 < t.gamma <= 1, "train.gamma", "a number in (0, 1]", t.gamma)
    check(t.warmup_epochs >= 0, "train.warmup_epochs", "an integer >= 0", t.warmup_epochs)
    check(t.warmup_lr >= 0, "train.warmup_lr", "a number >= 0", t.warmup_lr)
    mt = cfg.metrics
    check(mt.every >= 1, "metrics.every", "an integer >= 1", mt.every)
    check(mt.image_every >= -1, "metrics.image_every", "an integer >= -1 (-1: never)", mt.image_every)
    check(mt.ece_bins >= 1, "metrics.ece_bins", "an integer >= 1", mt.ece_bins)
    check(mt.eval_batch_size >= 1, "metrics.eval_batch_size", "an integer >= 1", mt.eval_batch_size)
