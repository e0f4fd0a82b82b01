"""Stabilizers as plugins: the `Stabilizer` interface, the one stabilizer registry, and `Plugged`, which
adds plugin stabilizers to an objective (ERM or mixup), over the member axis like everything else.

A plugin is one class (LeCam in objectives/lecam.py, DiffAugment in objectives/diffaugment.py, the
mixup family for D in objectives/cutmix_d.py, mix_consistency.py, mix_bcr.py and adaptivemix.py, or a
class in another package registered through the entry-point group "mixgan.stabilizers"). It declares
its config section (`Settings`, a dataclass read as `stabilizers.<name>.*`), which of its numeric
settings may differ between members of one stack (`member_keys`), and hooks:

    d_inputs / g_inputs   what D sees of the real and fake batches in D's and in G's step
    d_term                a term (S,) added to D's loss; with `reads_outputs`, it also gets the base
                          loss's outputs D(real), D(fake) instead of running D on them again
    state                 tensors (S, ...) saved in checkpoints, restored on resume, updated in place
    metrics               numbers (S,) reported into the run (TensorBoard and metrics.jsonl)

Built-in stabilizers computed by the engine (objectives/stabilizers.py) are listed in the same
registry as `Builtin` entries, so config checks, HParams, compare and stack packing read one list.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from mixgan._registry import Registry

Critic = Callable[[Tensor], Tensor]  # (S, n, ...) -> outputs (S, n, 1)


class Stabilizer:
    """Base class of a stabilizer plugin; one instance serves the S members of a stack.

    `settings` holds one `Settings` per member (the members' `stabilizers.<name>` sections); per-member
    numbers are best kept as tensors of shape (S,), e.g. `self.member_tensor("weight")`.
    """

    Settings: ClassVar[type]  # a dataclass with defaults: the config section stabilizers.<name>
    member_keys: ClassVar[tuple[str, ...]] = ()  # numeric settings that may differ within a stack
    metric_names: ClassVar[tuple[str, ...]] = ()  # the names `metrics` reports (e.g. stability/lecam)
    toy: ClassVar[bool] = True  # meaningful for the toy GAN (2-D points)
    image: ClassVar[bool] = True  # meaningful for image GANs
    # d_term takes `outputs=`: the base loss's (D(real), D(fake)), (S, n, 1) each with their gradients,
    # where the base ran D on exactly these batches (ERM), else None (mixup's D sees only mixes).
    # Reusing them spares a forward and a backward of D over 2n rows (LeCam, mix consistency, bCR).
    reads_outputs: ClassVar[bool] = False

    def __init__(self, settings: Sequence[Any], device: torch.device | str = "cpu") -> None:
        self.settings, self.device = list(settings), torch.device(device)

    # -- the config side (class methods: read before anything is built) --------------------------
    @classmethod
    def on(cls, settings: Any) -> bool:
        """Whether a section turns the stabilizer on (default: a `weight` above 0)."""
        return getattr(settings, "weight", 0) > 0

    @classmethod
    def check(cls, settings: Any, key: str) -> None:
        """Raise a one-line ConfigError for a bad value (`key` is e.g. "stabilizers.lecam")."""

    @classmethod
    def refuses(cls, settings: Any, key: str, toy: bool) -> str:
        """Why this section cannot serve the toy GAN (2-D points; `toy`) or image GANs, or "" if it can
        (default: the class's `toy` / `image`; a plugin may refuse one setting only, e.g. a box mask)."""
        return "" if (cls.toy if toy else cls.image) else f"{key.rsplit('.', 1)[-1]} is not built for it"

    def member_tensor(self, key: str) -> Tensor:
        """A numeric setting of every member as a (S,) tensor on the device."""
        return torch.tensor([float(getattr(s, key)) for s in self.settings], device=self.device)

    # -- hooks (defaults: no change) --------------------------------------------------------------
    def at_step(self, step: int, total: int) -> None:
        """Before iteration `step` of `total` (write schedules in place: a CUDA graph reads them)."""

    def d_inputs(self, real: Tensor, fake: Tensor, rand: Any) -> tuple[Tensor, Tensor]:
        return real, fake

    def g_inputs(self, real: Tensor, fake: Tensor, rand: Any) -> tuple[Tensor, Tensor]:
        return real, fake

    def d_term(self, D: Critic, real: Tensor, fake: Tensor, rand: Any,
               outputs: tuple[Tensor, Tensor] | None = None) -> Tensor | None:
        """A term (S,) added to D's loss, or None. `outputs` is passed only to a class that sets
        `reads_outputs` (a plugin written without the argument is called with four)."""
        return None

    def state(self) -> dict[str, Tensor]:
        """Tensors (S, ...) that are the stabilizer's state; update them in place."""
        return {}

    def metrics(self) -> dict[str, Tensor]:
        """Numbers (S,) to report, named as in `metric_names`."""
        return {}


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A stabilizer the engine computes (objectives/stabilizers.py), configured by a fixed field of
    config.gan.GanStabilizers."""

    on: Callable[[Any], bool]
    member_keys: tuple[str, ...] = ()
    toy: bool = True
    image: bool = True


def _penalty_on(p: Any) -> bool:
    return p.weight > 0


HOOKS = ("on", "check", "refuses", "at_step", "d_inputs", "g_inputs", "d_term", "state", "metrics")


def check_stabilizer(name: str, obj: Any) -> None:
    """What the engine reads of a plugin class, checked when it is registered (or its entry point is
    loaded), so that a class it cannot use fails there in one line, not in every GANLoss() after."""
    from mixgan.errors import ConfigError

    if isinstance(obj, Builtin):
        return
    if not (isinstance(obj, type) and issubclass(obj, Stabilizer)):
        raise ConfigError(f"stabilizer {name!r} is {obj!r}; accepted: a mixgan.Stabilizer subclass")
    where = f"stabilizer {name!r} ({obj.__name__})"
    settings = getattr(obj, "Settings", None)
    if not (isinstance(settings, type) and dataclasses.is_dataclass(settings)):
        raise ConfigError(f"{where} has no Settings dataclass; accepted: a class attribute Settings, a "
                          f"dataclass with a default for each field (the config section stabilizers.{name})")
    try:
        defaults = settings()
    except TypeError as err:
        raise ConfigError(f"{where}: Settings() fails ({err}); accepted: a default for each field") from None
    fields = [f.name for f in dataclasses.fields(settings)]
    for attr in ("member_keys", "metric_names"):
        value = getattr(obj, attr)
        if not (isinstance(value, tuple) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{where}: {attr} is {value!r}; accepted: a tuple of names")
    if bad := [k for k in obj.member_keys if k not in fields]:
        raise ConfigError(f"{where}: member_keys {', '.join(bad)} are not fields of its Settings; accepted: "
                          f"names among {', '.join(fields) or '(none)'}")
    if bad := [h for h in HOOKS if not callable(getattr(obj, h, None))]:
        raise ConfigError(f"{where}: {', '.join(bad)} is not a method; accepted: the hooks of "
                          "mixgan.Stabilizer as methods (or left to its defaults)")
    if obj.reads_outputs and "outputs" not in inspect.signature(obj.d_term).parameters:
        raise ConfigError(f"{where}: reads_outputs is set but d_term takes no outputs; accepted: "
                          "d_term(self, D, real, fake, rand, outputs=None), or reads_outputs = False")
    inherited = getattr(obj.on, "__func__", None) is Stabilizer.on.__func__  # type: ignore[attr-defined]
    if inherited and "weight" not in fields:
        raise ConfigError(f"{where}: its Settings has no weight, which Stabilizer.on reads, so it would "
                          "never be on; accepted: a weight field, or a classmethod on(settings)")
    try:
        obj.on(defaults)
    except Exception as err:
        raise ConfigError(f"{where}: on(Settings()) fails ({type(err).__name__}: {err}); accepted: an on "
                          "that reads its Settings") from None


# The one list of stabilizers: name -> Builtin or a Stabilizer class ("module:Class", imported when
# looked up). A plugin is one file and one line here, or an entry point of another package.
STABILIZERS = Registry("stabilizer", "mixgan.stabilizers", check=check_stabilizer)
for _name in ("r1", "r2", "gp", "dragan"):  # the engine's PENALTIES, in its order
    STABILIZERS.register(_name, Builtin(_penalty_on, ("weight",)))
STABILIZERS.register("noise", Builtin(lambda n: n.std > 0, ("std",)))
STABILIZERS.register("bcr", Builtin(lambda b: b.real > 0 or b.fake > 0, toy=False))
STABILIZERS.register("pack", Builtin(lambda m: m != 1, image=False))
STABILIZERS.register("spectral_norm", Builtin(bool, image=False))
STABILIZERS.register("lecam", "mixgan.objectives.lecam:LeCam")
STABILIZERS.register("diffaugment", "mixgan.objectives.diffaugment:DiffAugment")
# The mixup family for D beside §3.7 (docs/mixup_family.md)
STABILIZERS.register("cutmix", "mixgan.objectives.cutmix_d:CutMixD")
STABILIZERS.register("mix_consistency", "mixgan.objectives.mix_consistency:MixConsistency")
STABILIZERS.register("mix_bcr", "mixgan.objectives.mix_bcr:MixBCR")
STABILIZERS.register("adaptivemix", "mixgan.objectives.adaptivemix:AdaptiveMix")
STABILIZERS.seal()


def plugin_classes() -> dict[str, type]:
    """The registered stabilizers that are plugins (not computed by the engine), by name."""
    out = {}
    for name, entry in STABILIZERS.items():
        if isinstance(entry, Builtin):
            continue
        if not (isinstance(entry, type) and issubclass(entry, Stabilizer)):
            from mixgan.errors import ConfigError

            raise ConfigError(f"stabilizer {name!r} is {entry!r}; accepted: a mixgan.Stabilizer subclass")
        out[name] = entry
    return out


def member_keys() -> tuple[str, ...]:
    """Dotted keys under stabilizers. that may differ between members of one stack."""
    return tuple(f"{name}.{k}" for name, e in STABILIZERS.items() for k in e.member_keys)


def enabled(st: Any) -> tuple[bool, ...]:
    """Which stabilizers a stabilizers section turns on (shared inside a stack: it changes code paths)."""
    return tuple(bool(e.on(getattr(st, name))) for name, e in STABILIZERS.items())


def unused_keys(st: dict[str, Any]) -> list[str]:
    """Dotted keys (stabilizers.…) of the stabilizers a nested stabilizers dict leaves off."""
    off = []
    for name, entry in STABILIZERS.items():
        if name not in st:
            continue
        value = st[name]
        settings = entry.Settings(**value) if isinstance(value, dict) and not isinstance(entry, Builtin) \
            else _Dotted(value) if isinstance(value, dict) else value
        if not entry.on(settings):
            off += [f"stabilizers.{name}.{k}" for k in value] if isinstance(value, dict) \
                else [f"stabilizers.{name}"]
    return off


class _Dotted:
    """A section dict read by attribute (a Builtin's `on` reads sections as objects)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)

    def __getattr__(self, name: str) -> Any:  # a key missing from an old config: off
        return 0


def check_plugins(st: Any, toy: bool) -> None:
    """Each plugin section's own checks, and whether the task can use it."""
    from mixgan.config.core import check

    for name, cls in plugin_classes().items():
        settings = getattr(st, name)
        cls.check(settings, f"stabilizers.{name}")
        if cls.on(settings):
            why = cls.refuses(settings, f"stabilizers.{name}", toy)
            kind = "toy" if toy else "image"
            check(not why, f"stabilizers.{name}", f"off for the {kind} GAN ({why})", "on")


def build_plugins(sections: Sequence[Any], device: torch.device | str) -> list[tuple[str, Stabilizer]]:
    """The plugin stabilizers the members' stabilizers sections turn on, built for the stack."""
    out = []
    for name, cls in plugin_classes().items():
        per_member = [getattr(s, name) for s in sections]
        if cls.on(per_member[0]):
            out.append((name, cls(per_member, device)))
    return out


class Plugged:
    """An objective with plugin stabilizers: D and G see their inputs, D's loss gets their terms."""

    def __init__(self, base: Any, plugins: list[tuple[str, Stabilizer]]) -> None:
        self.base, self.plugins = base, plugins
        self.d_batches = base.d_batches
        self.reads_outputs = any(p.reads_outputs for _, p in plugins)

    def at_step(self, step: int, total: int) -> None:
        for _, p in self.plugins:
            p.at_step(step, total)
        if hasattr(self.base, "at_step"):
            self.base.at_step(step, total)

    def d_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: Any) -> Tensor:
        for _, p in self.plugins:
            real, fake = p.d_inputs(real, fake, rand)
        outputs = None
        if self.reads_outputs and hasattr(self.base, "d_loss_outputs"):
            loss, outputs = self.base.d_loss_outputs(D, real, fake, rand)
        else:
            loss = self.base.d_loss(D, real, fake, rand)
        for _, p in self.plugins:
            term = p.d_term(D, real, fake, rand, outputs=outputs) if p.reads_outputs \
                else p.d_term(D, real, fake, rand)
            if term is not None:
                loss = loss + term
        return loss

    def g_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: Any) -> Tensor:
        for _, p in self.plugins:
            real, fake = p.g_inputs(real, fake, rand)
        return self.base.g_loss(D, real, fake, rand)


def plugins_of(objective: Any) -> list[tuple[str, Stabilizer]]:
    """The plugin stabilizers inside an objective (possibly wrapped by objectives.stabilizers.Stabilized)."""
    while objective is not None:
        if isinstance(objective, Plugged):
            return objective.plugins
        objective = getattr(objective, "base", None)
    return []


def plugin_member_state(objective: Any, s: int) -> dict[str, dict[str, Tensor]]:
    """Member s's plugin state, for its checkpoint."""
    return {name: {k: v[s].clone() for k, v in p.state().items()}
            for name, p in plugins_of(objective) if p.state()}


def load_plugin_member_state(objective: Any, s: int, state: dict[str, dict[str, Tensor]]) -> None:
    """Restore member s's plugin state in place (a captured CUDA graph keeps the same tensors)."""
    for name, p in plugins_of(objective):
        for k, v in p.state().items():
            v[s].copy_(state[name][k])


def plugin_metrics(objective: Any) -> dict[str, Tensor]:
    """Every plugin's metrics, name -> (S,)."""
    out: dict[str, Tensor] = {}
    for _, p in plugins_of(objective):
        out.update(p.metrics())
    return out


def plugin_metric_names(st: Any) -> set[str]:
    """The metric names the plugins a stabilizers section turns on report."""
    return {m for name, cls in plugin_classes().items() if cls.on(getattr(st, name))
            for m in cls.metric_names}
