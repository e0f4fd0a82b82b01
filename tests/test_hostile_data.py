"""A user's data files that do not decode (issue 25, item 5), through `python -m mixgan.train`: one
line naming the file and what is wrong, exit 2, no traceback, no run dir, before training starts."""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mixgan.train import main

from runhelp import make_image_folder

CLASSIFY = ["--task=classify", "--model.name=small_cnn", "--model.width=4", "--model.hidden=8",
            "--train.epochs=1", "--train.batch_size=4", "--run.progress=false", "--metrics.image_every=0",
            "--run.checkpoint_every=0", "--data.workers=0", "--device=cpu"]


def refused(tmp_path: Path, capsys, args: list[str], *fragments: str) -> str:
    assert main([*CLASSIFY, f"--run.dir={tmp_path / 'runs'}", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert not (tmp_path / "runs").exists()
    return err


# --- CIFAR: labels out of range, zero images ----------------------------------------------------------

def cifar(root: Path, labels: list[int], n: int | None = None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    n = len(labels) if n is None else n
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {b"data": torch.zeros(n, 3072, dtype=torch.uint8).numpy(), b"labels": labels}
        (folder / name).write_bytes(pickle.dumps(entry))
    return folder / "data_batch_1"


@pytest.mark.parametrize(("labels", "fragment"), [
    ([0, -1], "a label is -1; accepted: labels 0..9"),
    ([0, 10], "a label is 10; accepted: labels 0..9"),
    ([], "unreadable batch data_batch_1"),
])
def test_cifar_batch_out_of_range_or_empty(tmp_path, capsys, labels, fragment):
    first = cifar(tmp_path / "data", labels)
    first = first if labels else first.parent  # an empty batch: named by its folder and file name
    refused(tmp_path, capsys, ["--data.name=cifar10", f"--data.root={tmp_path / 'data'}"], str(first),
            fragment)


# --- MNIST: truncated archives, wrong ranks --------------------------------------------------------------

def idx(t: torch.Tensor, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in t.shape) + t.numpy().tobytes()


def mnist(root: Path, spoil: Callable[[str, bytes], bytes] = lambda stem, blob: blob) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        x, y = torch.zeros(4, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2, 3], dtype=torch.uint8)
        for stem, t, magic in ((f"{prefix}-images-idx3-ubyte", x, 2051),
                               (f"{prefix}-labels-idx1-ubyte", y, 2049)):
            (raw / f"{stem}.gz").write_bytes(spoil(stem, gzip.compress(idx(t, magic))))
    return raw


@pytest.mark.parametrize(("spoil", "fragment"), [
    (lambda stem, blob: blob[: len(blob) // 2] if "train-images" in stem else blob, "not a complete gzip"),
    (lambda stem, blob: b"not gzip at all" if "train-labels" in stem else blob, "not a complete gzip file"),
    (lambda stem, blob: gzip.compress(idx(torch.zeros(4, 784, dtype=torch.uint8), 2050))
     if "train-images" in stem else blob, "holds an array of shape (4, 784); accepted: images (N, H, W)"),
    (lambda stem, blob: gzip.compress(idx(torch.tensor([0, 11, 2, 3], dtype=torch.uint8), 2049))
     if "train-labels" in stem else blob, "a label is 11; accepted: labels 0..9"),
])
def test_mnist_file_that_does_not_decode(tmp_path, capsys, spoil, fragment):
    raw = mnist(tmp_path / "data", spoil)
    err = refused(tmp_path, capsys, ["--data.name=mnist", f"--data.root={tmp_path / 'data'}"], fragment)
    assert str(raw) in err


def test_idx_file_that_is_a_fifo(tmp_path, capsys):
    import os
    import signal

    raw = mnist(tmp_path / "data")
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    os.mkfifo(raw / "train-labels-idx1-ubyte")
    signal.alarm(60)  # a regression fails instead of hanging
    try:
        refused(tmp_path, capsys, ["--data.name=mnist", f"--data.root={tmp_path / 'data'}"], "is a FIFO")
    finally:
        signal.alarm(0)


# --- ImageFolder: a corrupt image, classes missing from a split, images too small ---------------------------

def test_corrupt_png_in_an_image_folder(tmp_path, capsys):
    root = make_image_folder(tmp_path, {"train": 3, "val": 2})
    bad = root / "train" / "red" / "1.png"
    bad.write_bytes(bad.read_bytes()[:40] + b"\x00" * 20)
    refused(tmp_path, capsys, ["--data.name=imagefolder", f"--data.root={root}", "--data.image_size=8"],
            f"image_folder: {bad}: not a readable image")


@pytest.mark.parametrize("split", ["train", "val"])
def test_classes_missing_from_one_split(tmp_path, capsys, split):
    import shutil

    root = make_image_folder(tmp_path, {"train": 3, "val": 2})
    shutil.copytree(root / split / "red", root / split / "green")
    what = "has classes the train split lacks: green" if split == "val" else "lacks classes of the train"
    refused(tmp_path, capsys, ["--data.name=imagefolder", f"--data.root={root}", "--data.image_size=8"],
            f"{root / 'val'} {what}")


def test_images_too_small_for_the_network(tmp_path, capsys):
    root = make_image_folder(tmp_path, {"train": 3, "val": 2})
    refused(tmp_path, capsys, ["--data.name=imagefolder", f"--data.root={root}", "--data.image_size=8",
                               "--model.name=lenet"], "LeNet needs inputs of at least 16 x 16, got 8 x 8")


def test_dcgan_size_error_is_bad_input_and_a_value_error():
    from mixgan.errors import MixganError
    from mixgan.models.dcgan import dcgan_plan

    with pytest.raises(ValueError, match="DCGAN image_size") as err:
        dcgan_plan(5)
    assert isinstance(err.value, MixganError)


# --- speech: list files that are not UTF-8 ----------------------------------------------------------------

def test_speech_list_not_utf8(tmp_path, capsys):
    from mixgan.data.speech import LISTS

    root = tmp_path / "speech"
    (root / "yes").mkdir(parents=True)
    for name in LISTS.values():
        (root / name).write_text("yes/a.wav\n")
    bad = root / LISTS["val"]
    bad.write_bytes(b"yes/\xff\xfe.wav\n")
    refused(tmp_path, capsys, ["--data.name=speech_commands", f"--data.root={root}", "--model.name=lenet"],
            f"{bad}: not a text file (not UTF-8)")
