"""Config schemas of the tasks: one dataclass tree per task, with defaults and validation.

The GAN defaults are the main job, `python -m mixgan.train [--mixup]` (configs/gan/default.yaml
holds the same values; a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

from mixgan.config.core import check, check_choice


@dataclass
class RunSection:
    """Where the run goes and how often it is checkpointed."""

    dir: str = "runs"  # parent folder of run dirs
    name: str = ""  # run dir name; empty: <data>-<objective>-s<seed>, made unique
    checkpoint_every: int = 500  # iterations between checkpoints (0: only at the end)
    progress: bool = True  # tqdm progress bar on the console


@dataclass
class GanData:
    """Toy 2-D mixtures (paper Fig. 5 geometry by default)."""

    name: str = "grid25"  # ring8 | grid25
    std: float = 0.01  # std of every Gaussian (paper: 0.01)
    radius: float = 1.0  # ring radius (paper: 1)
    spacing: float = 0.5  # grid step; means in spacing*{-2..2}^2 (paper: 0.5)


@dataclass
class ToyNetSection:
    """One network's family and sizes where they differ from the model section's (empty or 0: those)."""

    name: str = ""  # a toy model family (models/toy_layers.py): mlp | bn_mlp | maxout | a plugin's
    hidden: int = 0  # hidden units (maxout: units after the max over pieces)
    depth: int = 0  # hidden layers
    bias: bool = True  # biases in the hidden layers (PacGAN's G: none, batch norm's shift takes over)


@dataclass
class GanModel:
    """Toy generator and discriminator (paper Fig. 5: MLPs of 3 hidden layers of 512 ReLU units; the
    main job's default is 128 units, which fits a 2-core CPU: docs/results.md). `g` and `d` choose
    another family or size per network (PacGAN's protocol: a batch-norm MLP G and a maxout D)."""

    name: str = "mlp"  # the family of both networks (models/toy_layers.py TOY_MODELS)
    hidden: int = 128
    depth: int = 3
    latent_dim: int = 2  # the authors swept 2, 5, 10
    activation: str = "relu"  # relu | leaky_relu (slope 0.2) | tanh (mlp and bn_mlp)
    maxout_pieces: int = 5  # pieces per maxout unit (Goodfellow et al. 2013; PacGAN's D: 5)
    init: str = "default"  # default: PyTorch's | normal: weights ~ N(0, init_std²), biases 0 (PacGAN)
    init_std: float = 0.02
    g: ToyNetSection = field(default_factory=ToyNetSection)
    d: ToyNetSection = field(default_factory=ToyNetSection)


@dataclass
class GanObjective:
    """Discriminator objective: `erm` or `mixup` (paper §3.7)."""

    name: str = "erm"  # erm | mixup
    alpha: float = 0.2  # Beta(alpha, alpha), or the upper end of Uniform(0, alpha)
    lam: str = "uniform"  # beta (paper text) | uniform (authors' demo)
    per_sample: bool = True  # one lambda per example (True) or one per batch
    pairs: str = "any"  # real_fake (paper formula) | any (authors' demo: shuffled real+fake pairs)
    g_loss: str = "saturating"  # with loss=bce: saturating (minimax, authors' demo) | non_saturating
    loss: str = "bce"  # base loss: bce | hinge | least_squares | wasserstein (objectives/stabilizers.py)
    anneal: str = "none"  # mixup's α over the run: none | linear α(1 − t/T) | cosine (demo variant only)


@dataclass
class Penalty:
    """A gradient penalty's weight (0: off) and lazy interval: applied on the D steps i ≡ 0 (mod every),
    i counted over the run, at weight × every (objectives/stabilizers.py)."""

    weight: float = 0.0
    every: int = 1


@dataclass
class Dragan(Penalty):
    """DRAGAN's penalty around real points perturbed by c·std(x)·U(0, 1) (Kodali et al. 2017)."""

    c: float = 0.5


@dataclass
class InstanceNoise:
    """Gaussian noise on every D input (Sønderby et al. 2017), annealed over the run."""

    std: float = 0.0  # initial std (0: off)
    schedule: str = "linear"  # linear: std·(1 − t/T) | exponential: std·exp(−5 t/T) | constant


@dataclass
class BalancedConsistency:
    """bCR (Zhao et al. 2021): D(x) ≈ D(T(x)) on real and generated images, T a random flip and shift."""

    real: float = 0.0  # λ_real (0: off; the paper: 10)
    fake: float = 0.0  # λ_fake (0: off; the paper: 10)
    shift: float = 0.125  # largest translation, a fraction of the image side (the paper: 1/8)


@dataclass
class GanStabilizers:
    """Discriminator stabilizers, combinable with erm or mixup (objectives/stabilizers.py)."""

    r1: Penalty = field(default_factory=Penalty)  # γ/2·E‖∇D(x)‖², real x (Mescheder et al. 2018)
    r2: Penalty = field(default_factory=Penalty)  # γ/2·E‖∇D(g(z))‖² (Huang et al. 2024, R3GAN)
    gp: Penalty = field(default_factory=Penalty)  # λ·E(‖∇D(x̂)‖ − 1)², x̂ real–fake interpolates (WGAN-GP)
    dragan: Dragan = field(default_factory=Dragan)  # λ·E(‖∇D(x̂)‖ − 1)², x̂ near real points
    noise: InstanceNoise = field(default_factory=InstanceNoise)
    bcr: BalancedConsistency = field(default_factory=BalancedConsistency)  # image GAN only
    pack: int = 1  # PacGAN-m: D sees m samples of one source concatenated (Lin et al. 2018)
    spectral_norm: bool = False  # D's weights divided by their largest singular value (Miyato 2018)
    # Plugin stabilizers (objectives/plugins.py: LeCam, DiffAugment, entry points) add their own
    # sections to this one: `stabilizers_schema()` is GanStabilizers with a field per plugin, and
    # config.core.build reads a section through it.

    @staticmethod
    def resolved_schema() -> type:
        return stabilizers_schema()


def stabilizers_schema() -> type:
    """GanStabilizers with one section per registered plugin stabilizer (`stabilizers.<name>.*`),
    built when a config is first built (plugins are looked up then, never at import time)."""
    from mixgan.objectives.plugins import plugin_classes

    plugins = plugin_classes()
    key = tuple((n, c) for n, c in plugins.items())
    if _SCHEMA.get("key") != key:
        fields = [(n, c.Settings, field(default_factory=c.Settings)) for n, c in plugins.items()]
        cls = make_dataclass("GanStabilizersWithPlugins", fields, bases=(GanStabilizers,))
        cls.__module__ = __name__  # pickled by name: the module's __getattr__ rebuilds it in a worker
        _SCHEMA.update(key=key, cls=cls)
    return _SCHEMA["cls"]


_SCHEMA: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name == "GanStabilizersWithPlugins":
        return stabilizers_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_stabilizers() -> GanStabilizers:
    return stabilizers_schema()()


@dataclass
class GanTrain:
    """Optimization: Adam with PyTorch defaults, 5 D steps per G step (paper Fig. 5)."""

    iterations: int = 5000  # generator steps (the paper: 20,000)
    batch_size: int = 128
    d_steps: int = 5
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    g_lr: float | None = None  # G's and D's own learning rate and β1 (null: lr and beta1)
    d_lr: float | None = None
    g_beta1: float | None = None
    d_beta1: float | None = None
    # alternating: d_steps D updates, then one G update on fresh batches (paper Fig. 5) | simultaneous:
    # one batch, both gradients at the same weights, then both steps (ALI's algorithm, PacGAN's protocol)
    update: str = "alternating"
    dataset_size: int = 0  # 0: fresh draws every batch; N: a fixed training set of N, shuffled each epoch
    batch_of: str = "points"  # batch_size counts points | packs (PacGAN-m: batch_size packs of m points)
    # CUDA only: TF32 tensor-core matmuls (fp32 range, 10-bit mantissa), the image tasks' `amp`
    # analogue; false for IEEE fp32. 128-row GEMMs leave most of a GPU idle in fp32 (BENCHMARKS.md).
    tf32: bool = True
    ema: float = 0.0  # decay of an EMA of G's weights, measured as quality_ema/* (0: no EMA)


@dataclass
class GanMetrics:
    """How often metrics, pictures and quality are measured (never every step: no host sync)."""

    every: int = 200  # iterations between metric read-backs (stability + quality)
    image_every: int = 2000  # iterations between sample pictures (0: only at the end)
    n_samples: int = 2500  # samples for modes / high quality / reverse KL (VEEGAN, PacGAN)
    hq_sigmas: float = 3.0  # a sample is high quality within hq_sigmas * std of its mean
    final_samples: int = 20000  # the final model scored again on this many samples (final_large/*; 0: off)


@dataclass
class GanConfig:
    """A toy GAN run."""

    task: str = "gan"
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N
    data: GanData = field(default_factory=GanData)
    model: GanModel = field(default_factory=GanModel)
    objective: GanObjective = field(default_factory=GanObjective)
    stabilizers: GanStabilizers = field(default_factory=default_stabilizers)
    train: GanTrain = field(default_factory=GanTrain)
    metrics: GanMetrics = field(default_factory=GanMetrics)
    run: RunSection = field(default_factory=RunSection)


def check_device(device: str) -> None:
    """Accept auto, cpu, cuda, cuda:N."""
    ok = device in ("auto", "cpu", "cuda") or (
        device.startswith("cuda:") and device[5:].isdigit()
    )
    check(ok, "device", "auto, cpu, cuda, cuda:N", device)


def check_run(run: RunSection) -> None:
    """Shared checks of the run section."""
    check(run.checkpoint_every >= 0, "run.checkpoint_every", "an integer >= 0", run.checkpoint_every)
    check(bool(run.dir), "run.dir", "a folder path", run.dir)


def check_gan_objective(obj: GanObjective) -> None:
    """Checks of a GAN objective section (toy and image GANs share the objectives)."""
    from mixgan.objectives.gan import ANNEALS, G_LOSSES, GAN_OBJECTIVES
    from mixgan.objectives.stabilizers import LOSSES, MIXUP_LOSSES

    check_choice(obj.name, "objective.name", GAN_OBJECTIVES)
    check(obj.alpha > 0, "objective.alpha", "a number > 0", obj.alpha)
    check_choice(obj.lam, "objective.lam", ["beta", "uniform"])
    check(obj.lam != "uniform" or obj.alpha <= 1, "objective.alpha",
          "a number in (0, 1] with objective.lam=uniform", obj.alpha)
    check_choice(obj.pairs, "objective.pairs", ["real_fake", "any"])
    check_choice(obj.g_loss, "objective.g_loss", G_LOSSES)
    check_choice(obj.loss, "objective.loss", LOSSES)
    check_choice(obj.anneal, "objective.anneal", ANNEALS)
    # Only the demo variant anneals: its λ ~ U(0, α_t) → 0 leaves the unmixed real+fake batch (ERM).
    # Real–fake pairs would leave D only fakes, and Beta(α_t, α_t) draws underflow as α_t → 0.
    check(obj.anneal == "none" or (obj.lam, obj.pairs) == ("uniform", "any"), "objective.anneal",
          "none unless objective.lam=uniform and objective.pairs=any (the demo variant)", obj.anneal)
    if obj.name == "mixup":  # mixup's soft target λ needs a loss of D's output against a target
        check(obj.loss in MIXUP_LOSSES, "objective.loss",
              f"{' or '.join(MIXUP_LOSSES)} with objective.name=mixup (its target is λ)", obj.loss)


def check_stabilizers(st: GanStabilizers, batch_size: int, toy: bool) -> None:
    """Weights >= 0, lazy intervals >= 1, a pack size that divides the batch, bCR on images only."""
    from mixgan.objectives.plugins import check_plugins
    from mixgan.objectives.stabilizers import PENALTIES

    for name in PENALTIES:
        pen = getattr(st, name)
        check(pen.weight >= 0, f"stabilizers.{name}.weight", "a number >= 0", pen.weight)
        check(pen.every >= 1, f"stabilizers.{name}.every", "an integer >= 1", pen.every)
    check(st.dragan.c > 0, "stabilizers.dragan.c", "a number > 0", st.dragan.c)
    check(st.noise.std >= 0, "stabilizers.noise.std", "a number >= 0", st.noise.std)
    check_choice(st.noise.schedule, "stabilizers.noise.schedule", ["linear", "exponential", "constant"])
    for key in ("real", "fake"):
        weight = getattr(st.bcr, key)
        check(weight >= 0, f"stabilizers.bcr.{key}", "a number >= 0", weight)
        check(not toy or weight == 0, f"stabilizers.bcr.{key}", "0 for the toy GAN (bCR augments images)",
              weight)
    check(0 <= st.bcr.shift <= 0.5, "stabilizers.bcr.shift", "a fraction in [0, 0.5] of the image side",
          st.bcr.shift)
    check(st.pack >= 1, "stabilizers.pack", "an integer >= 1", st.pack)
    check(toy or st.pack == 1, "stabilizers.pack", "1 for image GANs (PacGAN is built for the toy MLP)",
          st.pack)
    check(batch_size % st.pack == 0, "stabilizers.pack",
          f"a divisor of train.batch_size ({batch_size})", st.pack)
    check(toy or not st.spectral_norm, "stabilizers.spectral_norm",
          "false for image GANs (set model.spectral_norm)", st.spectral_norm)
    check_plugins(st, toy)


def check_gan_train(tr: object) -> None:
    """Checks of a GAN train section: step counts >= 1, Adam's lr > 0 and betas in [0, 1)."""
    for key in ("iterations", "batch_size", "d_steps"):
        check(getattr(tr, key) >= 1, f"train.{key}", "an integer >= 1", getattr(tr, key))
    check(tr.lr > 0, "train.lr", "a number > 0", tr.lr)  # type: ignore[attr-defined]
    for key in ("beta1", "beta2"):
        check(0 <= getattr(tr, key) < 1, f"train.{key}", "a number in [0, 1)", getattr(tr, key))


def check_toy_model(m: GanModel, spectral_norm: bool) -> None:
    """Known families and activations, sizes >= 1, spectral norm only on a plain MLP D."""
    from mixgan.models.toy_layers import ACTIVATIONS, TOY_MODELS

    check_choice(m.name, "model.name", TOY_MODELS)
    for key in ("hidden", "depth", "latent_dim", "maxout_pieces"):
        check(getattr(m, key) >= 1, f"model.{key}", "an integer >= 1", getattr(m, key))
    check_choice(m.activation, "model.activation", ACTIVATIONS)
    check_choice(m.init, "model.init", ["default", "normal"])
    check(m.init_std > 0, "model.init_std", "a number > 0", m.init_std)
    for net in ("g", "d"):
        sec = getattr(m, net)
        if sec.name:
            check_choice(sec.name, f"model.{net}.name", TOY_MODELS)
        for key in ("hidden", "depth"):
            check(getattr(sec, key) >= 0, f"model.{net}.{key}", "an integer >= 0 (0: model's)",
                  getattr(sec, key))
    check(not spectral_norm or (m.d.name or m.name) == "mlp", "stabilizers.spectral_norm",
          "false unless D's family is mlp (spectral norm is built for the plain MLP)", spectral_norm)


def check_protocol(tr: GanTrain, pack: int) -> None:
    """Per-network Adam settings, the update rule, the training set and what a batch counts."""
    for net in ("g", "d"):
        lr, beta1 = getattr(tr, f"{net}_lr"), getattr(tr, f"{net}_beta1")
        check(lr is None or lr > 0, f"train.{net}_lr", "a number > 0, or null (train.lr)", lr)
        check(beta1 is None or 0 <= beta1 < 1, f"train.{net}_beta1", "a number in [0, 1), or null", beta1)
    check_choice(tr.update, "train.update", ["alternating", "simultaneous"])
    check(tr.update == "alternating" or tr.d_steps == 1, "train.d_steps",
          "1 with train.update=simultaneous (one batch, both steps)", tr.d_steps)
    check_choice(tr.batch_of, "train.batch_of", ["points", "packs"])
    check(tr.dataset_size >= 0, "train.dataset_size", "an integer >= 0 (0: fresh draws)", tr.dataset_size)
    check(tr.dataset_size == 0 or tr.dataset_size >= tr.batch_size, "train.dataset_size",
          f"0, or at least train.batch_size ({tr.batch_size})", tr.dataset_size)


def validate_gan(cfg: GanConfig) -> None:
    """Reject values no GAN run can use, with the key and what is accepted."""
    from mixgan.data import GAN_DATA

    check_device(cfg.device)
    check_run(cfg.run)
    check(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    check_choice(cfg.data.name, "data.name", GAN_DATA)
    check(cfg.data.std > 0, "data.std", "a number > 0", cfg.data.std)
    check(cfg.data.radius > 0, "data.radius", "a number > 0", cfg.data.radius)
    check(cfg.data.spacing > 0, "data.spacing", "a number > 0", cfg.data.spacing)
    check_toy_model(cfg.model, cfg.stabilizers.spectral_norm)
    check_gan_objective(cfg.objective)
    check_gan_train(cfg.train)
    check(0 <= cfg.train.ema < 1, "train.ema", "a number in [0, 1)", cfg.train.ema)
    check_protocol(cfg.train, cfg.stabilizers.pack)
    # With batch_of=packs a batch holds batch_size · pack points, so any pack divides it.
    check_stabilizers(cfg.stabilizers, cfg.train.batch_size * (cfg.stabilizers.pack if cfg.train.batch_of
                                                               == "packs" else 1), toy=True)
    m = cfg.metrics
    check(m.every >= 1, "metrics.every", "an integer >= 1", m.every)
    check(m.image_every >= 0, "metrics.image_every", "an integer >= 0", m.image_every)
    check(m.n_samples >= 1, "metrics.n_samples", "an integer >= 1", m.n_samples)
    check(m.hq_sigmas > 0, "metrics.hq_sigmas", "a number > 0", m.hq_sigmas)
    check(m.final_samples >= 0, "metrics.final_samples", "an integer >= 0", m.final_samples)
