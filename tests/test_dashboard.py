"""The TensorBoard dashboard in a run's event file: custom-scalars layout and hparams, read back."""

import re

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.util import tensor_util

from mixgan.config.core import load_config, to_dict
from mixgan.rundir.dashboard import GAN_LAYOUT, flat_hparams
from mixgan.trainers.gan import GanTrainer
from mixgan.trainers.gan_hparams import toy_gan_hparams

from runhelp import poison_at, train

SHORT = ["--train.iterations=20", "--metrics.image_every=0"]


def read_back(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    (event,) = acc.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout()
    layout.ParseFromString(tensor_util.make_ndarray(event.tensor_proto).item())
    hp = acc.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(hp[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(hp[metadata.SESSION_END_INFO_TAG])
    return acc, layout, start, end


def test_layout_and_hparams_in_the_event_file(tmp_path):
    run = train(tmp_path, *SHORT, "--mixup", "--seed=3")
    acc, layout, start, end = read_back(run)
    charts = {c.title: {ch.title: list(ch.multiline.tag) for ch in c.chart} for c in layout.category}
    assert list(charts) == ["Stability", "Quality"]
    assert charts == GAN_LAYOUT
    # Every chart shows at least one scalar the run logged, and every scalar sits in some chart.
    scalars = set(acc.Tags()["scalars"])
    patterns = [p for section in charts.values() for tags in section.values() for p in tags]
    for section in charts.values():
        for title, tags in section.items():
            assert any(re.search(p, s) for p in tags for s in scalars), title
    assert all(any(re.search(p, s) for p in patterns) for s in scalars)
    hp = dict(start.hparams)
    assert hp["objective.name"].string_value == "mixup" and hp["seed"].number_value == 3
    assert hp["objective.per_sample"].bool_value is True and hp["model.hidden"].number_value == 32
    assert not any(k.startswith("run.") for k in hp)
    assert set(hp) == set(toy_gan_hparams(to_dict(load_config(None, [("objective.name", "mixup")])), "cpu"))
    assert end.status == api_pb2.STATUS_SUCCESS


def test_diverged_run_ends_its_hparams_session_as_failure(tmp_path, monkeypatch):
    poison_at(monkeypatch, GanTrainer, 5, lambda t: t.D.parameters())
    run = train(tmp_path, *SHORT)
    _, layout, _, end = read_back(run)
    assert end.status == api_pb2.STATUS_FAILURE
    assert [c.title for c in layout.category] == ["Stability", "Quality"]


@pytest.mark.parametrize("config,expected", [
    ({"a": {"b": 1, "c": "x"}, "run": {"dir": "runs"}, "device": "cpu"}, {"a.b": 1.0, "a.c": "x"}),
    ({"flag": True, "lst": [1, 2], "none": None}, {"flag": True, "lst": "[1, 2]"}),
])
def test_flat_hparams(config, expected):
    assert flat_hparams(config) == expected


@pytest.mark.parametrize("status,expected", [
    ("completed", "STATUS_SUCCESS"), ("diverged", "STATUS_FAILURE"), ("interrupted", "STATUS_UNKNOWN"),
    ("running", "STATUS_FAILURE")])
def test_every_run_status_ends_the_session(tmp_path, status, expected):
    from torch.utils.tensorboard import SummaryWriter

    from mixgan.rundir.dashboard import end_run

    writer = SummaryWriter(str(tmp_path))
    end_run(writer, status)  # "running" at the end: the loop was left by an exception
    writer.close()
    hp = EventAccumulator(str(tmp_path)).Reload().PluginTagToContent("hparams")
    end = metadata.parse_session_end_info_plugin_data(hp[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.Status.Value(expected)



SHARED = ["data.name", "data.std", "metrics.every", "metrics.final_samples", "metrics.hq_sigmas",
          "metrics.n_samples",
          "model.activation", "model.depth", "model.hidden", "model.init", "model.latent_dim",
          "objective.g_loss", "objective.loss", "objective.name", "seed",
          "train.batch_size", "train.beta1", "train.beta2", "train.d_steps", "train.iterations", "train.lr",
          "train.update"]


@pytest.mark.parametrize("objective,data,device,extra", [
    ("erm", "grid25", "cpu", ["data.spacing"]),
    ("erm", "ring8", "cpu", ["data.radius"]),
    ("mixup", "grid25", "cpu", ["data.spacing", "objective.alpha", "objective.anneal", "objective.lam",
                                "objective.pairs", "objective.per_sample"]),
    ("mixup", "ring8", "cuda", ["data.radius", "objective.alpha", "objective.anneal", "objective.lam",
                                "objective.pairs", "objective.per_sample", "train.tf32"]),
])
def test_hparams_are_the_keys_the_run_reads(objective, data, device, extra):
    cfg = load_config(None, [("objective.name", objective), ("data.name", data)])
    assert sorted(toy_gan_hparams(to_dict(cfg), device)) == sorted(SHARED + extra)


def test_hparams_show_only_the_stabilizers_that_are_on():
    cfg = load_config(None, [("stabilizers.r1.weight", 1.0), ("stabilizers.pack", 2), ("train.ema", 0.9)])
    keys = set(toy_gan_hparams(to_dict(cfg), "cpu"))
    on = {"stabilizers.r1.weight", "stabilizers.r1.every", "stabilizers.pack", "train.ema",
          "train.batch_of"}  # with packs, whether a batch counts points or packs matters
    assert keys == set(SHARED) | {"data.spacing"} | on


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_the_data_keys_not_listed_as_read_change_nothing(name):
    # GAN_DATA's `reads` is what HParams shows: a key left out must not change the data, a listed one must.
    from mixgan.data import GAN_DATA

    base = {"std": 0.01, "radius": 1.0, "spacing": 0.5}
    ref = GAN_DATA[name](**base)
    for key in base:
        other = GAN_DATA[name](**{**base, key: base[key] * 3})
        same = bool((other.means == ref.means).all()) and other.std == ref.std
        assert same == (key not in GAN_DATA[name].reads), key
