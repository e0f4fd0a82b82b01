"""CUDA-only paths of the classifier and the image GAN (bf16 autocast, channels_last, pinned DataLoader),
checked against the fp32 CUDA run and the CPU run. Skipped without CUDA; scripts/device_check.sh runs them."""

import json

import pytest
import torch

from mixgan.train import main

from runhelp import make_image_folder, rows

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

DIGITS = ["--task=classify", "--train.epochs=8",  # the digits preset, shortened: ~1-3% test error
          "--run.progress=false", "--metrics.image_every=0", "--run.checkpoint_every=0"]
FP32 = ["--train.amp=false", "--train.channels_last=false"]


def run(tmp_path, *args, name):
    assert main([*DIGITS, f"--run.dir={tmp_path}", f"--run.name={name}", *args]) == 0
    return rows(tmp_path / name)


def test_classifier_cuda_fp32_equals_cpu_and_bf16_channels_last_trains(tmp_path):
    cpu = run(tmp_path, "--device=cpu", "--mixup", *FP32, name="cpu")
    fp32 = run(tmp_path, "--device=cuda", "--mixup", *FP32, name="fp32")
    fast = run(tmp_path, "--device=cuda", "--mixup", name="fast")  # amp + channels_last: the defaults
    # λ and the augmentation come from the device's generator (Philox on CUDA, not the CPU's stream),
    # so the runs differ draw by draw: compare how well they learn, not their bits.
    assert all(torch.isfinite(torch.tensor(r["train/loss"])) for r in cpu + fp32 + fast)
    # Eight epochs reach 1-3% test error on the CPU (three seeds); all three runs must get there.
    assert [r[-1]["test/error_best"] < 5 for r in (cpu, fp32, fast)] == [True] * 3


def test_classifier_cuda_folder_data_through_pinned_workers(tmp_path):
    root = make_image_folder(tmp_path, {"train": 8, "val": 4})
    lines = run(tmp_path, "--device=cuda", "--mixup", f"--data.root={root}",
                "--data.name=imagefolder", "--data.workers=2", "--data.image_size=8",
                "--model.name=small_cnn", "--train.batch_size=4", name="folder")
    assert [r["step"] for r in lines] == list(range(1, 9))
    assert lines[-1]["test/error"] <= 25.0  # two solid colours


def test_image_gan_cuda_bf16_channels_last_runs_and_measures(tmp_path):
    pytest.importorskip("torch_fidelity")  # a bare CUDA image may lack it (scripts/device_check.sh)
    cache = tmp_path / "cache"
    args = ["--task=image_gan", "--device=cuda", "--mixup", "--data.n=500", "--model.g_base=8",
            "--model.d_base=8", "--model.latent_dim=16", "--train.batch_size=32", "--train.iterations=40",
            "--metrics.every=20", "--metrics.fid_every=40", "--metrics.image_every=40",
            "--metrics.n_samples=500", "--metrics.kid_subsets=2", "--metrics.kid_subset_size=200",
            f"--metrics.cache_dir={cache}", "--metrics.classifier_epochs=4", "--metrics.classifier_width=16",
            "--run.progress=false", "--run.checkpoint_every=20", f"--run.dir={tmp_path}"]
    assert main([*args, "--run.name=fast"]) == 0
    assert main([*args, "--run.name=fp32", "--train.amp=false", "--train.channels_last=false"]) == 0
    fast, fp32 = rows(tmp_path / "fast"), rows(tmp_path / "fp32")
    assert [r["step"] for r in fast] == [r["step"] for r in fp32] == [20, 40]
    for key in ("loss/D", "loss/G", "fidelity/fid_digits"):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in fast + fp32 if key in r), key
    assert json.loads((tmp_path / "fast" / "summary.json").read_text())["status"] == "completed"
    # bf16 changes the rounding, not the training: the first window's D loss stays close.
    assert fast[0]["loss/D"] == pytest.approx(fp32[0]["loss/D"], rel=0.25)
