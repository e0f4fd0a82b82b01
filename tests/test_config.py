"""Config loading, overrides and validation."""

import dataclasses

import pytest
import yaml

from mixgan.config.core import config_from_dict, load_config, parse_value, to_dict
from mixgan.config.gan import GanConfig
from mixgan.errors import ConfigError


def test_default_preset_equals_builtin_defaults():
    assert to_dict(load_config("configs/gan/default.yaml")) == to_dict(GanConfig())


def test_fig5_presets_follow_the_paper():
    for name in ("ring8", "grid25"):
        cfg = load_config(f"configs/gan/{name}_fig5.yaml")
        assert cfg.train.iterations == 20000 and cfg.train.batch_size == 128 and cfg.train.d_steps == 5
        assert (cfg.model.hidden, cfg.model.depth, cfg.model.latent_dim) == (512, 3, 2)
        assert cfg.data.std == 0.01 and cfg.objective.alpha == 0.2


def test_overrides_are_typed():
    cfg = load_config(overrides=[("train.iterations", 7), ("objective.alpha", 1), ("data.name", "ring8")])
    assert cfg.train.iterations == 7 and cfg.objective.alpha == 1.0 and isinstance(cfg.objective.alpha, float)
    assert parse_value("500") == 500 and parse_value("true") is True and parse_value("abc") == "abc"


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("train.iterationz", 5, "unknown config key train.iterationz"),
        ("train.iterations", "many", "train.iterations: expected int"),
        ("train.iterations", 0, "train.iterations"),
        ("objective.alpha", 0, "objective.alpha"),
        ("objective.alpha", -1.0, "objective.alpha"),
        ("data.name", "spiral", "data.name: got 'spiral'; accepted: grid25, ring8"),
        ("objective.name", "wgan", "accepted: erm, mixup"),
        ("train.lr", True, "train.lr: expected float"),
        ("device", "tpu", "device"),
        ("data", 3, "data: expected GanData"),
    ],
)
def test_bad_values_name_the_key(key, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[(key, value)])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_task_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="task: unknown task 'draw'"):
        config_from_dict({"task": "draw"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_is_data_not_code(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(overrides=[("objective.name", "mixup"), ("seed", 3)])
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(to_dict(cfg))))
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)


def test_scientific_notation_is_a_float(tmp_path):
    # PyYAML (YAML 1.1) reads "1e-4" as a string; a float key still accepts it.
    assert load_config(overrides=[("train.lr", parse_value("1e-4"))]).train.lr == 1e-4
    preset = tmp_path / "p.yaml"
    preset.write_text("train: {lr: 2e-4}\n")
    assert load_config(preset).train.lr == 2e-4
    with pytest.raises(ConfigError, match="train.iterations: expected int"):
        load_config(overrides=[("train.iterations", "1e3")])


def test_mixup_r1_preset_is_the_config_the_docs_measured():
    # docs/best_mixup.md reports configs/ablation/best_mixup.yaml's mixup_r1 rows; the preset must train
    # the same thing (data, networks, objective, stabilizers, optimization).
    from mixgan.config.sweep import load_sweep

    preset = to_dict(load_config("configs/gan/mixup_r1.yaml"))
    measured = load_sweep("configs/ablation/best_mixup.yaml").configs["mixup_r1__data.name=grid25__s0"]
    for section in ("data", "model", "objective", "stabilizers", "train"):
        assert preset[section] == measured[section], section
    assert preset["objective"]["name"] == "mixup" and preset["stabilizers"]["r1"]["weight"] == 1.0
