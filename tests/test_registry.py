"""Issue 33, item 5: `mixgan.registry` stays the public function whatever was imported, a plugin
registered again replaces only with replace=True (never one of mixgan's own), and a stabilizer class
the engine cannot use is refused when registered, in one line, leaving the registry as it was."""

import dataclasses
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mixgan
from mixgan.objectives.plugins import STABILIZERS, check_stabilizer, plugin_classes


@dataclasses.dataclass
class Weight:
    weight: float = 0.0


class Plus(mixgan.Stabilizer):
    """+ weight·E[D(x)]."""

    Settings = Weight
    member_keys = ("weight",)

    def __init__(self, settings, device="cpu"):
        super().__init__(settings, device)
        self.weight = self.member_tensor("weight")

    def d_term(self, D, real, fake, rand):
        return self.weight * D(real).flatten(1).mean(1)


class Minus(Plus):
    """− weight·E[D(x)]: the same plugin, edited in a notebook cell."""

    def d_term(self, D, real, fake, rand):
        return -super().d_term(D, real, fake, rand)


@pytest.fixture
def registries(monkeypatch):
    """Registrations made by a test are forgotten after it."""
    from mixgan.data import GAN_DATA

    for reg in (STABILIZERS, GAN_DATA):
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))


def test_mixgan_registry_is_the_function_after_every_registry_module_is_imported():
    code = ("import mixgan.objectives.plugins, mixgan.data, mixgan.models, mixgan.tasks, mixgan.registries\n"
            "import mixgan\n"
            "from mixgan import registry\n"
            "assert registry is mixgan.registry and callable(registry)\n"
            "print(mixgan.registry('stabilizers').kind)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "stabilizer"
    # the invariance behind it: no submodule of mixgan is named as one of its exports
    package = Path(mixgan.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} | {p.name for p in package.iterdir() if p.is_dir()}
    assert not modules & set(mixgan.__all__)


def loss_value(name):
    D = torch.nn.Linear(2, 1)
    torch.nn.init.constant_(D.weight, 1.0)
    torch.nn.init.zeros_(D.bias)
    real, fake = torch.ones(4, 2), torch.zeros(4, 2)
    with_plugin = mixgan.GANLoss(stabilizers=[mixgan.stabilizer(name, weight=1.0)])
    with torch.no_grad():
        return float(with_plugin.d_loss(D, real, fake) - mixgan.GANLoss().d_loss(D, real, fake))


def test_replace_true_re_registers_a_plugin_and_never_one_of_mixgans_own(registries):
    mixgan.register_stabilizer("plus", Plus)
    base = loss_value("plus")
    with pytest.raises(mixgan.ConfigError, match=r"'plus' is registered twice; .*replace=True"):
        mixgan.register_stabilizer("plus", Minus)
    assert STABILIZERS["plus"] is Plus
    mixgan.register_stabilizer("plus", Minus, replace=True)  # the cell run again, edited
    assert base == pytest.approx(2.0)  # weight · E[D(x)], D(1, 1) = 2
    assert STABILIZERS["plus"] is Minus and loss_value("plus") == pytest.approx(-base)
    for name in ("r1", "lecam"):
        with pytest.raises(mixgan.ConfigError, match=f"'{name}' is mixgan's own"):
            mixgan.register_stabilizer(name, Plus, replace=True)
    with pytest.raises(mixgan.ConfigError, match="'grid25' is mixgan's own"):
        mixgan.register_toy_data("grid25", lambda **kw: None, replace=True)
    mixgan.register_toy_data("mine", lambda **kw: None)
    mixgan.register_toy_data("mine", lambda **kw: None, replace=True)


def without(attr):
    return type("Broken", (Plus,), {attr: None})


def no_default():
    @dataclasses.dataclass
    class Required:
        weight: float

    return type("Broken", (Plus,), {"Settings": Required})


def no_weight():
    @dataclasses.dataclass
    class Strength:
        strength: float = 1.0

    return type("Broken", (mixgan.Stabilizer,), {"Settings": Strength})


@pytest.mark.parametrize("cls, match", [
    (type("Bare", (mixgan.Stabilizer,), {}), r"\(Bare\) has no Settings dataclass; accepted: a class"),
    (without("Settings"), "has no Settings dataclass"),
    (no_default(), r"Settings\(\) fails .*accepted: a default for each field"),
    (type("Broken", (Plus,), {"member_keys": ("alpha",)}), "member_keys alpha are not fields of its "
                                                           "Settings; accepted: names among weight"),
    (type("Broken", (Plus,), {"metric_names": "stability/x"}), "metric_names is 'stability/x'; accepted"),
    (type("Broken", (Plus,), {"metrics": {}}), "metrics is not a method"),
    (no_weight(), "no weight, which Stabilizer.on reads, so it would never be on"),
    (object, "is <class 'object'>; accepted: a mixgan.Stabilizer subclass"),
])
def test_a_stabilizer_the_engine_cannot_use_is_refused_when_registered(registries, cls, match):
    with pytest.raises(mixgan.ConfigError, match=match) as err:
        mixgan.register_stabilizer("broken", cls)
    assert "\n" not in str(err.value) and "broken" not in STABILIZERS.names()
    assert mixgan.GANLoss(stabilizers=[mixgan.R1(1.0)])  # every GANLoss still builds


def test_an_entry_points_class_is_checked_when_loaded_and_mixgans_own_pass(monkeypatch, registries):
    import tests_entry  # noqa: F401  (this module, importable by name for the entry point)

    ep = md.EntryPoint("theirs", "tests_entry:Bare", "mixgan.stabilizers")
    monkeypatch.setattr(STABILIZERS, "_plugins_read", False)
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: [ep] if group == "mixgan.stabilizers"
                        else [])
    with pytest.raises(mixgan.ConfigError, match=r"stabilizer 'theirs' \(Bare\) has no Settings"):
        STABILIZERS["theirs"]
    del STABILIZERS._entries["theirs"]
    for name, cls in plugin_classes().items():  # LeCam, DiffAugment, the mixup family
        check_stabilizer(name, cls)


sys.modules["tests_entry"] = type(sys)("tests_entry")
sys.modules["tests_entry"].Bare = type("Bare", (mixgan.Stabilizer,), {})
