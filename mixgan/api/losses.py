"""The public GAN objectives and stabilizers for any PyTorch loop: keyword-constructed, validated when
built, called on plain batches (n, ...) with a plain `nn.Module` D and an optional `torch.Generator`.

There is one implementation: `GANLoss` builds the engine's objective (objectives/gan.py, stabilizers.py,
plugins.py) from the same config sections a `python -m mixgan.train` run uses, and calls it on a stack
of one member: batches get the member axis with `[None]`, D is seen through `single_member`, the
generator is the member's stream, and the loss is taken out with `[0]` (tests/test_api.py checks that
the two agree bit for bit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from mixgan.errors import ConfigError


class ERM:
    """The standard GAN (Goodfellow et al. 2014): D(x) → 1, D(G(z)) → 0.

    loss: bce | hinge | least_squares | wasserstein; g_loss (with bce): non_saturating | saturating.
    Default g_loss="non_saturating"; the main job (`python -m mixgan.train`) is g_loss="saturating".
    """

    name = "erm"

    def __init__(self, *, loss: str = "bce", g_loss: str = "non_saturating") -> None:
        self.settings = _objective(name=self.name, loss=loss, g_loss=g_loss)


class Mixup:
    """The mixup GAN (Zhang et al., ICLR 2018, §3.7): D(λx + (1−λ)G(z)) → λ.

    form="paper": every real point mixed with a fake one, λ ~ Beta(α, α) (the §3.7 formula);
    form="demo": the authors' demo (hongyi-zhang/mixup gan/example_gan.py): two halves of the batch,
    each real+fake shuffled, mixed pairwise with λ ~ U(0, α), G trained with the saturating loss on the
    unmixed batch. Any key can be set apart from the form: lam (beta | uniform), per_sample, loss
    (bce | least_squares), g_loss, anneal (none | linear | cosine, demo only).
    Default form="paper"; the main job's `python -m mixgan.train --mixup` is form="demo".
    """

    name = "mixup"
    FORMS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"pairs": "real_fake", "lam": "beta", "g_loss": "non_saturating"},
        "demo": {"pairs": "any", "lam": "uniform", "g_loss": "saturating"},
    }

    def __init__(self, *, alpha: float = 0.2, form: str = "paper", **keys: Any) -> None:
        if form not in self.FORMS:
            raise ConfigError(f"Mixup(form={form!r}); accepted: {', '.join(self.FORMS)}")
        self.settings = _objective(name=self.name, alpha=alpha, **{**self.FORMS[form], **keys})


def _objective(**keys: Any) -> Any:
    """A validated objective section (config.gan.GanObjective) from keywords."""
    from mixgan.config.core import build
    from mixgan.config.gan import GanObjective, check_gan_objective

    section = build(GanObjective, keys, prefix="objective.")
    check_gan_objective(section)
    return section


class StabilizerSpec:
    """One stabilizer's settings (the section stabilizers.<name> of a run's config), validated when built."""

    name: ClassVar[str] = ""

    def __init__(self, *args: Any, **settings: Any) -> None:
        from mixgan.config.core import _coerce, build
        from mixgan.config.gan import stabilizers_schema

        field = {f.name: f for f in dataclasses.fields(stabilizers_schema())}.get(self.name)
        if field is None:
            from mixgan.objectives.plugins import STABILIZERS

            STABILIZERS[self.name]  # the one-line error: unknown stabilizer, and the accepted names
        factory = field.default_factory
        default = factory() if factory is not dataclasses.MISSING else field.default
        # One positional value is the setting that turns it on (`R1(10.0)` = `R1(weight=10.0)`).
        first = dataclasses.fields(default)[0].name if dataclasses.is_dataclass(default) else "value"
        if len(args) > 1 or (args and first in settings):
            raise ConfigError(f"{type(self).__name__}{args!r}: one positional value at most, its {first}; "
                              "accepted: the other settings by name")
        if args:
            settings = {first: args[0], **settings}
        if dataclasses.is_dataclass(default):
            self.settings = build(type(default), settings, prefix=f"stabilizers.{self.name}.")
        else:  # a plain value (pack, spectral_norm): Spec(value=...)
            unknown = set(settings) - {"value"}
            if unknown:
                raise ConfigError(f"{type(self).__name__}: unknown setting {sorted(unknown)[0]}; accepted: "
                                  f"{_value_key(self.name)}")
            self.settings = _coerce(settings.get("value", default), type(default),
                                    f"stabilizers.{self.name}")

        # Its values are checked now, by the checks a run's config gets (alone: as the only stabilizer).
        from mixgan.config.gan import check_stabilizers
        from mixgan.objectives.plugins import STABILIZERS

        alone = stabilizers_schema()()
        setattr(alone, self.name, self.settings)
        entry = STABILIZERS[self.name]
        toy = entry.toy if not hasattr(entry, "refuses") else not entry.refuses(
            self.settings, f"stabilizers.{self.name}", True)  # e.g. MixBCR(mix="cutmix"): images
        check_stabilizers(alone, batch_size=alone.pack, toy=toy)
        if not STABILIZERS[self.name].on(self.settings):  # R1() would be silently off
            key = first if first != "value" else _value_key(self.name)
            raise ConfigError(f"{type(self).__name__}: off as set ({self.settings!r}), so it would do "
                              f"nothing; accepted: the setting that turns it on, e.g. "
                              f"{type(self).__name__}({key}=...)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"


def _value_key(name: str) -> str:
    return {"pack": "m"}.get(name, "value")


def stabilizer(name: str, **settings: Any) -> StabilizerSpec:
    """Any registered stabilizer by name (built-in, or a plugin's), e.g. stabilizer("lecam", weight=0.3)."""
    from mixgan.objectives.plugins import STABILIZERS

    STABILIZERS[name]  # unknown: one line naming the accepted stabilizers
    return type(name, (StabilizerSpec,), {"name": name})(**settings)


def _spec(name: str, doc: str, **fixed: Any) -> type:
    return type(name, (StabilizerSpec,), {"name": fixed.pop("key"), "__doc__": doc})


R1 = _spec("R1", "R1(weight=γ, every=1): γ/2·E‖∇D(x)‖² at real points (Mescheder et al. 2018).", key="r1")
R2 = _spec("R2", "R2(weight=γ, every=1): γ/2·E‖∇D(G(z))‖² at generated points.", key="r2")
WGANGP = _spec("WGANGP", "WGANGP(weight=λ): λ·E(‖∇D(x̂)‖ − 1)², x̂ real–fake interpolates "
               "(Gulrajani et al. 2017).", key="gp")
DRAGAN = _spec("DRAGAN", "DRAGAN(weight=λ, c=0.5): λ·E(‖∇D(x̂)‖ − 1)² near real points "
               "(Kodali et al. 2017).", key="dragan")
InstanceNoise = _spec("InstanceNoise", "InstanceNoise(std=σ, schedule=linear|exponential|constant): "
                      "Gaussian noise on D's inputs (Sønderby et al. 2017).", key="noise")
BalancedConsistency = _spec("BalancedConsistency", "BalancedConsistency(real=λ_r, fake=λ_f, shift=1/8): bCR "
                            "on images (Zhao et al. 2021).", key="bcr")
LeCam = _spec("LeCam", "LeCam(weight=λ, decay=0.99): λ·R_LC with EMA anchors (Tseng et al. 2021).",
              key="lecam")
DiffAugment = _spec("DiffAugment", "DiffAugment(policy='color,translation,cutout'): the same "
                    "differentiable augmentation of real and fake images (Zhao et al. 2020).",
                    key="diffaugment")


class _Defaults(StabilizerSpec):
    """A spec whose paper defaults turn it on (a config section's defaults leave every plugin off)."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**{**self.defaults, **settings})


class CutMixD(_Defaults):
    """CutMixD(weight=1.0): + w·BCE(D(M⊙x + (1−M)⊙G(z)), λ), M a CutMix box, λ its area fraction
    (§3.7 with Yun et al. 2019's box); images only."""

    name, defaults = "cutmix", {"weight": 1.0}


class MixConsistency(_Defaults):
    """MixConsistency(weight=1.0, warmup=0): + w·E‖D(mix(x, G(z))) − mix(D(x), D(G(z)))‖² (U-Net GAN,
    Schönfeld et al. 2020): a CutMix box (inverted with probability ½) on images, a blend on points."""

    name, defaults = "mix_consistency", {"weight": 1.0}


class MixBCR(_Defaults):
    """MixBCR(real=10, fake=10, mix="mixup"|"cutmix", alpha=1.0): bCR with T a mix within the real or
    within the generated batch (Zhao et al. 2020)."""

    name, defaults = "mix_bcr", {"real": 10.0, "fake": 10.0}


class AdaptiveMix(_Defaults):
    """AdaptiveMix(weight=1.0, noise=0.05, per_sample=False): −E cos(f(x̃), sg[λf(x_a) + (1−λ)f(x_b) + ε])
    on pairs within the real and within the generated batch (Liu et al. 2023); D needs features/head."""

    name, defaults = "adaptivemix", {"weight": 1.0}


class PacGAN(StabilizerSpec):
    """PacGAN(m=2): D reads m samples of one source at once (Lin et al. 2018); D's input is m·d wide."""

    name = "pack"

    def __init__(self, *, m: int = 2) -> None:
        super().__init__(value=m)


class GANLoss:
    """A GAN objective with stabilizers, for any loop: `d_loss(D, real, fake)` and `g_loss(D, real, fake)`
    return 0-dim losses; `real` and `fake` are batches (n, ...), D a module mapping (n, ...) to (n, 1).

    d_steps: D steps per G step (the lazy interval of a penalty counts D steps); default 1, the main job's
    (`python -m mixgan.train`) 5. Stabilizers with state
    (LeCam) keep it here: `state_dict()` / `load_state_dict()`; their numbers: `metrics()`.
    """

    def __init__(self, objective: ERM | Mixup | None = None, *,
                 stabilizers: Sequence[StabilizerSpec] = (), d_steps: int = 1) -> None:
        from mixgan.config.gan import check_stabilizers, stabilizers_schema

        objective = objective if objective is not None else ERM()
        if not isinstance(objective, ERM | Mixup):
            raise ConfigError(f"GANLoss(objective={objective!r}); accepted: mixgan.ERM(...) or "
                              "mixgan.Mixup(...)")
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ConfigError(f"GANLoss(d_steps={d_steps!r}); accepted: an integer >= 1")
        st = stabilizers_schema()()
        seen: set[str] = set()
        for spec in stabilizers:
            if not isinstance(spec, StabilizerSpec):
                raise ConfigError(f"GANLoss(stabilizers=[..., {spec!r}]); accepted: mixgan.R1(...), "
                                  "mixgan.LeCam(...), mixgan.stabilizer(name, ...) and the like")
            if spec.name in seen:
                raise ConfigError(f"GANLoss: stabilizer {spec.name!r} given twice; accepted: each once")
            seen.add(spec.name)
            setattr(st, spec.name, spec.settings)
        if st.spectral_norm:  # a property of D's layers, not of the loss: say how instead of ignoring it
            raise ConfigError("GANLoss: spectral norm is part of D, not of its loss; accepted: D's layers "
                              "wrapped with torch.nn.utils.parametrizations.spectral_norm")
        images = st.bcr.real > 0 or st.bcr.fake > 0 or _images_only(st)
        check_stabilizers(st, batch_size=st.pack, toy=not images)
        self.objective, self.stabilizers, self.d_steps = objective.settings, st, d_steps
        diffaugment = bool(getattr(st, "diffaugment", None) and st.diffaugment.policy)
        self._images = "DiffAugment" if diffaugment else "BalancedConsistency" if images else ""
        self._engine: Any = None
        self._build(torch.device("cpu"))  # every value is checked now, not at the first call

    def _build(self, device: torch.device) -> Any:
        from mixgan.objectives.gan import make_gan_objective

        old = self._engine
        self._engine = make_gan_objective(self.objective, device, self.stabilizers, self.d_steps)
        self._device = device
        if old is not None:  # moving to another device keeps the stabilizers' state
            self.load_state_dict({k: v.to(device) for k, v in _state(old).items()})
        return self._engine

    def _call(self, which: str, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
              generator: torch.Generator | None) -> Tensor:
        from mixgan.streams import MemberStreams

        self.check_batches(which, real, fake)
        if real.device != self._device:
            self._build(real.device)
        if generator is None:
            generator = (torch.cuda.default_generators[real.device.index or 0] if real.device.type == "cuda"
                         else torch.default_generator)
        rand = MemberStreams([generator])
        # The engine's member-axis code at S = 1: (1, n, ...) in, (1,) out.
        return getattr(self._engine, which)(_checked_critic(D), real[None], fake[None], rand)[0]

    def check_batches(self, which: str, real: Any, fake: Any) -> None:
        """The batch contract, on shapes only (no host sync): tensors of one shape (n, ...), an even n
        for the demo form's two halves, images (n, C, H, W) for an image augmentation."""
        call = f"GANLoss.{which}"
        for key, x in (("real", real), ("fake", fake)):
            if not isinstance(x, Tensor) or x.dim() < 1 or not x.is_floating_point():
                got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
                raise ConfigError(f"{call}: {key} is {got}; accepted: a float batch (n, ...)")
        if real.shape != fake.shape:
            raise ConfigError(f"{call}: real batch {tuple(real.shape)} but fake batch {tuple(fake.shape)}; "
                              "accepted: the same shape (n, ...): as many fakes as reals, G's output "
                              "shaped as the data")
        if which == "d_loss" and self.d_batches == 2 and real.shape[0] % 2:
            raise ConfigError(f"{call}: a batch of {real.shape[0]} with Mixup(form='demo'), which mixes the "
                              "batch's two halves; accepted: an even batch")
        if self._images and real.dim() != 4:
            raise ConfigError(f"{call}: {self._images} augments images (n, C, H, W) but the batch is "
                              f"{tuple(real.shape)}; accepted: image batches, or no image augmentation")

    def d_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        """D's loss (minimize it over D's weights); `fake` detached from G by the caller."""
        return self._call("d_loss", D, real, fake, generator)

    def g_loss(self, D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        """G's loss (minimize it over G's weights)."""
        return self._call("g_loss", D, real, fake, generator)

    @property
    def d_batches(self) -> int:
        """Batches of real and of fake points one D step wants (2 for the demo form's two halves)."""
        return int(self._engine.d_batches)

    def at_step(self, step: int, total: int) -> None:
        """Before iteration `step` of `total`: the schedules (instance noise, mixup's annealed α)."""
        if hasattr(self._engine, "at_step"):
            self._engine.at_step(step, total)

    def metrics(self) -> dict[str, float]:
        """Every active stabilizer's numbers, as floats, from the last d_loss: a penalty's value before
        its weight (stability/r1 = ½E‖∇D(x)‖², r2, gp, dragan; bcr_real, bcr_fake), the instance noise's
        std now (stability/noise_std), a plugin's own (stability/lecam_anchor_real, ...)."""
        from mixgan.objectives.plugins import plugin_metrics
        from mixgan.objectives.stabilizers import penalty_metrics

        values = {**penalty_metrics(self._engine), **plugin_metrics(self._engine)}
        return {k: float(v[0]) for k, v in values.items()}

    def state_dict(self) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in _state(self._engine).items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Put back what state_dict() returned, from a GANLoss of the same configuration; another's (other
        stabilizers, other shapes) is one ConfigError and leaves this one unchanged."""
        ours = _state(self._engine)
        if not isinstance(state, Mapping):
            raise ConfigError(f"GANLoss.load_state_dict: got a {type(state).__name__}; accepted: the mapping "
                              "GANLoss.state_dict() returns")
        if set(state) != set(ours):
            raise ConfigError(f"GANLoss.load_state_dict: keys {sorted(map(str, state))}; accepted: "
                              f"{sorted(ours)} (a state of a GANLoss with the same stabilizers)")
        for k, v in ours.items():
            got = state[k]
            if not isinstance(got, Tensor) or got.shape != v.shape or got.is_complex() or \
                    (got.is_floating_point() != v.is_floating_point()):
                what = (f"a {got.dtype} tensor of shape {tuple(got.shape)}" if isinstance(got, Tensor)
                        else f"a {type(got).__name__}")
                raise ConfigError(f"GANLoss.load_state_dict: {k} is {what}; accepted: a {v.dtype} tensor of "
                                  f"shape {tuple(v.shape)} (a state of a GANLoss of this configuration)")
        for k, v in ours.items():
            v.copy_(state[k])


def _checked_critic(D: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """objectives/gan.single_member (its features/head split kept, for AdaptiveMix), refusing a D that
    does not give one number per input: (n, 2) would otherwise be averaged into the loss, silently."""
    from mixgan.objectives.gan import single_member

    plain = single_member(D)

    def critic(x: Tensor) -> Tensor:
        n = x.shape[0] * x.shape[1]
        out = D(x.flatten(0, 1))
        if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != n or out.numel() != n:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ConfigError(f"GANLoss: D's output is {got} for {n} inputs; accepted: one number per "
                              f"input, ({n}, 1) or ({n},)")
        return out.view(x.shape[0], x.shape[1], -1)

    for name in ("features", "head"):
        if hasattr(plain, name):
            setattr(critic, name, getattr(plain, name))
    return critic


def _images_only(st: Any) -> bool:
    """Whether a plugin the section turns on refuses toy points (DiffAugment, CutMixD, a CutMix T)."""
    from mixgan.objectives.plugins import plugin_classes

    return any(cls.on(getattr(st, name)) and cls.refuses(getattr(st, name), f"stabilizers.{name}", True)
               for name, cls in plugin_classes().items())


def _state(engine: Any) -> dict[str, Tensor]:
    from mixgan.objectives.plugins import plugins_of

    return {f"{name}.{k}": v for name, p in plugins_of(engine) for k, v in p.state().items()}
