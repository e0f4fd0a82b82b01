"""Image GANs (`task: image_gan`): metrics through torch-fidelity with our digit extractor, Stacked-digits
mode counting, the Inception path without weights, resume, EMA/grids, bad input, a 2-process gloo run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from mixgan.data.images import digits_u8, stacked_digits
from mixgan.metrics.fidelity import fidelity_metrics, inception_weights, register_digits
from mixgan.metrics.stacked import digit_mode_stats, image_mode_stats
from mixgan.train import main
from mixgan.trainers.digits_net import load_digit_classifier
from mixgan.trainers.image_gan import ImageGanTrainer

from runhelp import CLF, Touch, ctrl_c_at, rows

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py (and its `cache` fixture)


def tiny(cache, *extra):
    return ["--task=image_gan", "--data.n=500", "--model.g_base=8", "--model.d_base=8",
            "--model.latent_dim=16",
            "--train.batch_size=16", "--train.iterations=30", "--metrics.every=10", "--metrics.fid_every=15",
            "--metrics.image_every=15", "--metrics.n_samples=200", "--metrics.kid_subsets=2",
            "--metrics.kid_subset_size=100", f"--metrics.cache_dir={cache}",
            f"--metrics.classifier_epochs={CLF['epochs']}", f"--metrics.classifier_width={CLF['width']}",
            "--run.progress=false", "--run.checkpoint_every=10", "--device=cpu", *extra]


def test_digit_extractor_fid_near_zero_on_halves_large_on_noise(cache):
    net = load_digit_classifier(cache, CLF["epochs"], 0, CLF["width"], 4 * CLF["width"])
    name = register_digits(net.path, net.tag)
    x, y = digits_u8()
    a, b = stacked_digits(1000, 11, x, y)[0], stacked_digits(1000, 12, x, y)[0]
    noise = torch.randint(0, 256, a.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    kw = {"cache_root": cache / "fid", "kid_subsets": 5, "kid_subset_size": 500}
    same = fidelity_metrics(a, b, name, net.path, "test-halves", **kw)
    far = fidelity_metrics(noise, b, name, net.path, "test-halves", **kw)
    assert list((cache / "fid").glob("test-halves-mixgan-digits-*-stat-fid-features.pt"))  # cached reference
    assert same["fid"] < 0.05 * far["fid"] and far["fid"] > 50
    assert abs(same["kid"]) < 0.05 * far["kid"]
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and far["recall"] < 0.2
    assert same["is"] > 10 * far["is"]  # IS over the 1,000 digit triples
    assert fidelity_metrics(a, b, name, net.path, "test-halves", **kw) == same  # from the cache, same numbers


def test_mode_counting_real_stacked_digits_and_a_constant_sample(cache):
    digits = torch.tensor([[a // 100, a // 10 % 10, a % 10] for a in range(1000)])
    exact = digit_mode_stats(digits)
    assert exact["modes"] == 1000 and abs(float(exact["reverse_kl"])) < 1e-6
    net = load_digit_classifier(cache, CLF["epochs"], 0, CLF["width"], 4 * CLF["width"]).model
    x, y = digits_u8()
    real = image_mode_stats(net, stacked_digits(5000, 3, x, y)[0])
    assert real["modes"] >= 970  # 5,000 uniform draws cover ~993 of 1,000 modes
    assert real["reverse_kl"] < 0.3
    const = image_mode_stats(net, x[:1].expand(500, 3, 8, 8))
    assert const["modes"] == 1 and abs(float(const["reverse_kl"]) - torch.log(torch.tensor(1000.0))) < 1e-5


def test_inception_without_weights_one_line_and_training_continues(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty hub cache
    import torch.hub

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    weights, message = inception_weights()
    assert weights is None and "--metrics.inception_weights" in message and "\n" not in message
    run = ["--metrics.extractors=[digits,inception]", f"--run.dir={tmp_path}", "--run.name=r"]
    assert main(tiny(cache, *run)) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Inception" in err[0] and "--metrics.inception_weights" in err[0]
    last = rows(tmp_path / "r")[-1]
    assert "fidelity/fid_digits" in last and not any("inception" in k for k in last)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "completed"
    # A weights path that does not exist is bad input: one line, exit 2, no run dir.
    assert main(tiny(cache, "--metrics.inception_weights=/nope.pth", f"--run.dir={tmp_path / 'bad'}")) == 2
    assert "metrics.inception_weights" in capsys.readouterr().err and not (tmp_path / "bad").exists()



def test_crafted_inception_weights_never_run_code(tmp_path, cache, capsys):
    # torch-fidelity unpickles the weights with weights_only=False: mixgan reads them as data first.
    target, evil = tmp_path / "pwned", tmp_path / "evil.pth"
    torch.save({"fc.weight": Touch(target)}, evil)
    args = ["--metrics.extractors=[digits,inception]", f"--metrics.inception_weights={evil}",
            f"--run.dir={tmp_path / 'runs'}"]
    assert main(tiny(cache, *args)) == 2
    err = capsys.readouterr().err.strip()
    assert not target.exists() and not (tmp_path / "runs").exists()
    assert len(err.splitlines()) == 1 and "not a plain state_dict (it names posix.system)" in err
    assert str(evil) in err
    plain = tmp_path / "plain.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, plain)
    assert inception_weights(str(plain)) == (plain, "")

def _tiny_mnist(root):
    """64 random 28x28 'digits' in torchvision's MNIST/raw layout (IDX files)."""
    import struct

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 28, 28), generator=gen)
    labels = torch.randint(0, 10, (64,), generator=gen)
    for stem, t, magic in (("train-images-idx3-ubyte", images, 2051),
                           ("train-labels-idx1-ubyte", labels, 2049)):
        head = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in t.shape)
        (raw / stem).write_bytes(head + t.to(torch.uint8).numpy().tobytes())


def test_inception_weights_in_the_hub_cache_are_passed_to_torch_fidelity(tmp_path, cache, monkeypatch):
    # torch-fidelity's own Inception (95 MB, ~20 s for 24 images on this CPU) is replaced by a stub
    # that checks what mixgan hands over: the weights file, uint8 RGB images, the reference cache name.
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from mixgan.metrics import fidelity
    from mixgan.metrics.fidelity import KEYS

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "torch" / "hub" / "checkpoints" / os.path.basename(URL_INCEPTION_V3)
    weights.parent.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(1)}, weights)  # a plain state_dict: mixgan checks it loads as data
    assert inception_weights() == (weights, "")
    seen = []

    def fake_calculate_metrics(**kw):
        seen.append(kw)
        return dict.fromkeys(KEYS, 1.0)

    monkeypatch.setattr(fidelity, "calculate_metrics", fake_calculate_metrics)  # torch-fidelity's, + d/c
    _tiny_mnist(tmp_path)
    assert main(tiny(cache, "--data.name=mnist", f"--data.root={tmp_path}", f"--run.dir={tmp_path}",
                     "--run.name=r", "--train.iterations=15", "--metrics.n_samples=20")) == 0
    # G and its EMA at the end, then the references (held-out real, noise, one image) on the same reals
    assert len(seen) == 5 and len({k["input2_cache_name"] for k in seen}) == 1
    kw = seen[0]
    assert kw["feature_extractor"] == "inception-v3-compat"
    assert kw["feature_extractor_weights_path"] == str(weights)
    fake, real = kw["input1"], kw["input2"]
    assert fake[0].dtype == torch.uint8 and fake[0].shape == real[0].shape == (3, 28, 28)  # grey → RGB
    assert len(fake) == 20 and kw["input2_cache_name"].startswith("mixgan-mnist-")
    last = rows(tmp_path / "r")[-1]
    assert last["fidelity/fid_inception"] == 1.0 and last["fidelity_ema/precision_inception"] == 1.0
    assert last["fidelity/density_inception"] == 1.0 and last["fidelity_ema/coverage_inception"] == 1.0
    assert not any(k.startswith("quality") for k in last)  # modes only on digit data


def test_resume_equals_uninterrupted_with_ema_grids_and_quality(tmp_path, cache, monkeypatch):
    args = tiny(cache, "--objective.name=mixup", f"--run.dir={tmp_path}")
    assert main([*args, "--run.name=full"]) == 0
    full = rows(tmp_path / "full")
    assert [r["step"] for r in full] == [10, 15, 20, 30]
    for key in ("loss/D", "stability/grad_input_mixed", "quality/modes", "quality_ema/reverse_kl",
                "fidelity/fid_digits", "fidelity_ema/kid_digits", "fidelity/precision_digits",
                "fidelity/recall_digits", "fidelity/density_digits", "fidelity_ema/coverage_digits"):
        assert key in full[-1], key
    final = json.loads((tmp_path / "full" / "summary.json").read_text())["final"]
    assert 0 <= final["fidelity/coverage_digits"] <= 1 and final["fidelity_ema/density_digits"] >= 0
    # compare's image-GAN table: precision, recall, density and coverage on the digit features.
    from mixgan.compare import compare

    _, table, text = compare([tmp_path / "full"], tmp_path / "cmp", plots=False, tensorboard=False)
    for c in ("precision_digits", "recall_digits", "density_digits", "coverage_digits"):
        assert table[0][c]["value"] == final[f"fidelity/{c}"], c
    assert "| coverage (digits net) |" in text.splitlines()[2]
    # What a sweep's `metrics:` is checked against (issue 17) is what the last step reports.
    from mixgan.config.core import load_config
    from mixgan.metrics.fidelity import KEYS
    from mixgan.train import parse_overrides
    from mixgan.trainers.image_gan import FIDELITY_NAMES

    assert ImageGanTrainer.metric_names(load_config(None, parse_overrides(args))) == set(full[-1]) - {"step"}
    assert set(FIDELITY_NAMES) == set(KEYS.values())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "full"), size_guidance={"images": 0})
    acc.Reload()
    assert {"samples", "samples_ema"} <= set(acc.Tags()["images"])
    assert (tmp_path / "full" / "samples_ema.png").exists()

    restore = ctrl_c_at(monkeypatch, ImageGanTrainer, 13)
    assert main([*args, "--run.name=cut"]) == 130
    assert [r["step"] for r in rows(tmp_path / "cut")] == [10]
    restore()
    assert main(["--resume", str(tmp_path / "cut"), "--run.progress=false"]) == 0
    assert rows(tmp_path / "cut") == full


@pytest.mark.parametrize("args,fragment", [
    (["--data.name=cifar10"], "cifar10: no data in"),
    (["--data.name=svhn"], "data.name"),
    (["--metrics.extractors=[digits]", "--data.name=mnist"], "metrics.extractors"),
    (["--data.image_size=9"], "data.image_size"),
    (["--train.ema=1.0"], "train.ema"),
    (["--data.name=image_folder", "--data.image_size=8"], "image_folder: no data in"),
])
def test_bad_input_one_line_exit_2_no_run_dir(tmp_path, cache, capsys, args, fragment):
    assert main(tiny(cache, f"--run.dir={tmp_path / 'runs'}", f"--data.root={tmp_path}", *args)) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_image_folder_trains_and_nan_is_a_divergence_not_a_crash(tmp_path, cache, monkeypatch):
    from PIL import Image

    folder = tmp_path / "imgs" / "train" / "a"
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for i in range(6):  # 12x10 RGB images, resized and center-cropped to 8x8
        pixels = torch.randint(0, 256, (10, 12, 3), generator=gen, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
    original = ImageGanTrainer.advance

    def poison(self):
        original(self)
        if self.step == 12:
            assert self.images.shape[1:] == (3, 8, 8)
            with torch.no_grad():
                for p in self.D.parameters():
                    p.fill_(float("nan"))

    monkeypatch.setattr(ImageGanTrainer, "advance", poison)
    args = ["--data.name=image_folder", f"--data.root={tmp_path / 'imgs'}", "--data.image_size=8",
            "--metrics.extractors=[]", f"--run.dir={tmp_path}", "--run.name=r"]
    assert main(tiny(cache, *args)) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 15  # quality skipped, no crash
    assert [r["step"] for r in rows(tmp_path / "r")] == [10, 15]


def test_two_process_gloo_run(tmp_path, cache):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
         "mixgan.train", *tiny(cache, "--train.iterations=20", "--metrics.extractors=[]",
                               f"--run.dir={tmp_path}", "--run.name=ddp")],
        capture_output=True, text=True, timeout=180, env={**env, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-4000:]
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]  # rank 1 wrote nothing
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 20
    last = rows(tmp_path / "ddp")[-1]
    assert last["step"] == 20 and torch.isfinite(torch.tensor(last["loss/D"])) and last["quality/modes"] >= 1


def test_presets_load_and_stacked_digits_preset_is_the_default():
    from pathlib import Path

    import yaml

    from mixgan.config.core import config_from_dict, load_config, to_dict
    from mixgan.config.image_gan import ImageGanConfig

    gan = Path(__file__).resolve().parents[1] / "configs" / "gan"
    stacked = gan / "dcgan_stacked_digits.yaml"
    assert to_dict(config_from_dict(yaml.safe_load(stacked.read_text()))) == to_dict(ImageGanConfig())
    for obj in ("erm", "mixup"):
        cfg = load_config(gan / f"dcgan_cifar10_{obj}.yaml")
        assert (cfg.task, cfg.data.name, cfg.objective.name) == ("image_gan", "cifar10", obj)


@pytest.mark.parametrize("kind", ["file", "under_a_file", "read_only"])
def test_a_metrics_cache_that_cannot_be_written_is_one_line(tmp_path, cache, capsys, kind):
    import os

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    where = {"file": blocker, "under_a_file": blocker / "cache", "read_only": tmp_path / "ro"}[kind]
    if kind == "read_only":
        where.mkdir()
        where.chmod(0o500)
        if os.access(where, os.W_OK):  # root ignores the mode bits
            pytest.skip("root can write into a read-only folder")
    args = tiny(cache, f"--run.dir={tmp_path / 'runs'}", f"--metrics.cache_dir={where}")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "metrics.cache_dir" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
