"""Image data: loaders read tiny files in the real CIFAR/IDX/ImageFolder formats, augmentation,
label corruption and stacked digits."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import pytest
import torch

from mixgan.data.augment import augment, corrupt_labels, normalize, random_crop, random_flip
from mixgan.data.images import (
    CIFAR_MEAN,
    CIFAR_STD,
    load_cifar10,
    load_cifar100,
    load_digits_images,
    load_fashion_mnist,
    load_local_images,
    load_mnist,
    stacked_digits,
    to_float,
    train_test_split,
)
from mixgan.errors import DataError

from runhelp import Touch


def _write_cifar_batch(path: Path, data: torch.Tensor, labels: list[int], key: bytes) -> None:
    entry = {b"data": data.reshape(len(labels), 3072).numpy(), key: labels, b"batch_label": b"x"}
    with path.open("wb") as f:
        pickle.dump(entry, f)


def _rand_uint8(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)


def test_cifar10_reads_every_batch_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    gen = torch.Generator().manual_seed(0)
    written = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x, y = _rand_uint8(gen, 2, 3, 32, 32), torch.randint(0, 10, (2,), generator=gen).tolist()
        _write_cifar_batch(folder / name, x, y, b"labels")
        written.append((x, y))
    x_train, y_train = load_cifar10(tmp_path, train=True)
    assert x_train.shape == (10, 3, 32, 32) and x_train.dtype == torch.uint8
    assert torch.equal(x_train, torch.cat([w[0] for w in written[:5]]))
    assert y_train.tolist() == sum((w[1] for w in written[:5]), []) and y_train.dtype == torch.int64
    x_test, y_test = load_local_images("cifar10", str(tmp_path), train=False)
    assert torch.equal(x_test, written[5][0]) and y_test.tolist() == written[5][1]
    # channel layout: the first 1024 values of a row are the red plane
    assert x_test[0, 0].flatten().tolist() == written[5][0][0, 0].flatten().tolist()


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    gen = torch.Generator().manual_seed(1)
    x = _rand_uint8(gen, 3, 3, 32, 32)
    _write_cifar_batch(folder / "train", x, [5, 99, 0], b"fine_labels")
    _write_cifar_batch(folder / "test", x[:1], [42], b"fine_labels")
    x_train, y_train = load_cifar100(tmp_path)
    assert torch.equal(x_train, x) and y_train.tolist() == [5, 99, 0]
    assert load_cifar100(tmp_path, train=False)[1].tolist() == [42]


def test_cifar_missing_folder_is_one_line_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path / "nowhere")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("cifar10: no data in")
    assert "cifar-10-batches-py/data_batch_1..5 and test_batch" in msg
    assert "never downloads" in msg


def test_cifar_incomplete_folder_names_missing_batch(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    for i in (1, 2, 4, 5):
        _write_cifar_batch(folder / f"data_batch_{i}", x, [0], b"labels")
    with pytest.raises(DataError, match="missing data_batch_3") as err:
        load_cifar10(tmp_path)
    assert "\n" not in str(err.value)


def _idx_bytes(t: torch.Tensor, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in t.shape)
    return header + t.numpy().tobytes()


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize(
    ("loader", "folder"), [(load_mnist, "MNIST"), (load_fashion_mnist, "FashionMNIST")]
)
def test_mnist_idx_files(tmp_path: Path, gz: bool, loader, folder: str) -> None:
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(2)
    data = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        x, y = _rand_uint8(gen, n, 28, 28), torch.randint(0, 10, (n,), generator=gen).byte()
        for stem, t, magic in (
            (f"{prefix}-images-idx3-ubyte", x, 2051),
            (f"{prefix}-labels-idx1-ubyte", y, 2049),
        ):
            blob = _idx_bytes(t, magic)
            if gz:
                (raw / f"{stem}.gz").write_bytes(gzip.compress(blob))
            else:
                (raw / stem).write_bytes(blob)
        data[prefix] = (x, y)
    for train, prefix in ((True, "train"), (False, "t10k")):
        x, y = loader(tmp_path, train=train)
        assert x.shape == (data[prefix][0].shape[0], 1, 28, 28) and x.dtype == torch.uint8
        assert torch.equal(x[:, 0], data[prefix][0])
        assert torch.equal(y, data[prefix][1].long()) and y.dtype == torch.int64


def test_mnist_missing_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("mnist: no data in")
    assert f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte" in msg
    assert "train-labels-idx1-ubyte" in msg


def test_unknown_image_data_set_lists_names() -> None:
    with pytest.raises(DataError, match="cifar10.*mnist"):
        load_local_images("svhn", "/tmp")


def test_image_folder_lazy_and_missing(tmp_path: Path) -> None:
    from PIL import Image

    from mixgan.data.images import image_folder

    for cls, value in (("cat", 10), ("dog", 200)):
        (tmp_path / "train" / cls).mkdir(parents=True)
        Image.new("RGB", (6, 5), (value, value, value)).save(tmp_path / "train" / cls / "a.png")
    ds = image_folder(tmp_path, "train")
    assert len(ds) == 2 and ds.classes == ["cat", "dog"]
    x, y = ds[1]
    assert x.shape == (3, 5, 6) and y == 1 and torch.allclose(x, torch.full_like(x, 200 / 255))
    with pytest.raises(DataError) as err:
        image_folder(tmp_path, "val")
    assert "\n" not in str(err.value) and f"{tmp_path}/val/<class>/" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="one sub-folder per class"):
        image_folder(tmp_path, "empty")


def test_digits_and_stratified_split() -> None:
    x, y = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0.0 and x.max() == 1.0
    split = train_test_split(x, y, 0.2, seed=3)
    assert split.x_train.shape[0] + split.x_test.shape[0] == 1797 and split.num_classes == 10
    for c in range(10):  # stratified: each class keeps its share in the test part
        n_c = int((y == c).sum())
        assert int((split.y_test == c).sum()) == round(0.2 * n_c)
    again = train_test_split(x, y, 0.2, seed=3)
    other = train_test_split(x, y, 0.2, seed=4)
    assert torch.equal(split.x_test, again.x_test)
    assert not torch.equal(split.x_test, other.x_test)


def test_stacked_digits_channels_and_modes() -> None:
    x, y = load_digits_images()
    sx, sy = stacked_digits(5000, seed=0, images=x, labels=y)
    assert sx.shape == (5000, 3, 8, 8)
    assert sy.min() >= 0 and sy.max() <= 999
    assert torch.unique(sy).numel() > 950  # ~993 expected for 5000 draws over 1000 modes
    flat = x.flatten(1)
    for i in range(20):  # each channel is a real digit image of the digit its label says
        for k, d in enumerate((int(sy[i]) // 100, int(sy[i]) // 10 % 10, int(sy[i]) % 10)):
            match = (flat == sx[i, k].flatten()).all(dim=1)
            assert match.any() and (y[match] == d).any()
    assert torch.equal(stacked_digits(50, 0, x, y)[0], stacked_digits(50, 0, x, y)[0])


def _label_encoded_batch(n: int = 16, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % 10
    x = (labels.float() + 1.0)[:, None, None, None].expand(n, 3, size, size).clone()
    return x, labels


def test_augment_keeps_labels_aligned_and_shape() -> None:
    x, labels = _label_encoded_batch()
    out = augment(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    # every pixel is either padding (0) or the image's own label code
    code = (labels.float() + 1.0)[:, None, None, None]
    assert ((out == 0) | (out == code)).all()
    assert (out.amax(dim=(1, 2, 3)) == code.flatten()).all()


def test_crop_shifts_by_at_most_pad_and_is_seeded() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 2, 12, 12, generator=gen)
    out = random_crop(x, torch.Generator().manual_seed(5), pad=3)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    shifts = set()
    for i in range(64):  # the output must be exactly one window of the padded image
        found = [
            (dy, dx)
            for dy in range(7)
            for dx in range(7)
            if torch.equal(out[i], padded[i, :, dy : dy + 12, dx : dx + 12])
        ]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 10  # the offsets really vary over the batch
    assert torch.equal(out, random_crop(x, torch.Generator().manual_seed(5), pad=3))


def test_flip_is_exact_mirror() -> None:
    x = torch.rand(200, 3, 5, 7, generator=torch.Generator().manual_seed(2))
    out = random_flip(x, torch.Generator().manual_seed(0))
    same = (out == x).flatten(1).all(dim=1)
    mirrored = (out == x.flip(-1)).flatten(1).all(dim=1)
    assert (same | mirrored).all()
    assert 60 < int(mirrored.sum()) < 140


def test_normalize_matches_constants() -> None:
    x = torch.tensor(CIFAR_MEAN)[None, :, None, None].expand(2, 3, 4, 4)
    assert torch.allclose(normalize(x, CIFAR_MEAN, CIFAR_STD), torch.zeros(2, 3, 4, 4))
    one = normalize(torch.ones(1, 3, 1, 1), CIFAR_MEAN, CIFAR_STD).flatten()
    expected = [(1 - m) / s for m, s in zip(CIFAR_MEAN, CIFAR_STD)]
    assert torch.allclose(one, torch.tensor(expected))
    assert to_float(torch.full((1,), 255, dtype=torch.uint8)).item() == 1.0


def test_corrupt_labels_exact_count_and_seeded() -> None:
    labels = torch.arange(1000) % 10
    new, mask = corrupt_labels(labels, 0.37, 10, seed=0)
    assert int(mask.sum()) == 370 and new.dtype == labels.dtype
    assert torch.equal(new[~mask], labels[~mask])  # untouched outside the mask
    changed = int((new != labels).sum())
    assert 300 < changed <= 370  # uniform draws may land on the true label (~10%)
    assert torch.equal(labels, torch.arange(1000) % 10)  # input not modified
    again, mask_again = corrupt_labels(labels, 0.37, 10, seed=0)
    assert torch.equal(new, again) and torch.equal(mask, mask_again)
    other, other_mask = corrupt_labels(labels, 0.37, 10, seed=1)
    assert not torch.equal(mask, other_mask)
    strict, strict_mask = corrupt_labels(labels, 0.37, 10, seed=0, exclude_true=True)
    assert int((strict != labels).sum()) == 370 and torch.equal(strict != labels, strict_mask)
    assert int(corrupt_labels(labels, 0.0, 10, 0)[1].sum()) == 0
    assert int(corrupt_labels(labels, 1.0, 10, 0)[1].sum()) == 1000


def _cifar10_folder(root: Path, first: object) -> None:
    """A CIFAR-10 folder whose data_batch_1 pickles `first`; the other batches are fine."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    for name in [f"data_batch_{i}" for i in range(2, 6)] + ["test_batch"]:
        _write_cifar_batch(folder / name, x, [0], b"labels")
    with (folder / "data_batch_1").open("wb") as f:
        pickle.dump(first, f)


def test_crafted_cifar_batch_never_runs_code(tmp_path: Path, capsys) -> None:
    # The attack through the real CLI: the command in the pickle must not run, and the
    # refusal is one line, exit 2, no run dir.
    from mixgan.train import main

    target = tmp_path / "pwned"
    _cifar10_folder(tmp_path / "data", {b"data": Touch(target), b"labels": [0]})
    runs = tmp_path / "runs"
    code = main(["--config=configs/classify/cifar10.yaml", f"--data.root={tmp_path / 'data'}",
                 f"--run.dir={runs}", "--run.progress=false"])
    err = capsys.readouterr().err.strip()
    assert not target.exists()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "unreadable batch data_batch_1" in err and "posix.system" in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(("content", "fragment"), [
    ([1, 2, 3], "holds a list, not a dict"),
    ({b"data": "pixels", b"labels": [0]}, "'data' is not a uint8 array"),
    ({b"data": torch.zeros(1, 3072).numpy(), b"labels": [0]}, "'data' is not a uint8 array"),  # float
    ({b"data": torch.zeros(2, 3072, dtype=torch.uint8).numpy(), b"labels": [0]}, "one integer label"),
    ({b"data": torch.zeros(1, 3072, dtype=torch.uint8).numpy(), b"labels": ["cat"]}, "one integer label"),
    ({b"data": torch.zeros(1, 3072, dtype=torch.uint8).numpy()}, "'labels'"),
])
def test_cifar_batch_with_wrong_contents_is_one_line(tmp_path: Path, content, fragment) -> None:
    _cifar10_folder(tmp_path, content)
    with pytest.raises(DataError, match="unreadable batch data_batch_1") as err:
        load_cifar10(tmp_path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batch_any_pickle_protocol_reads_back(tmp_path: Path, protocol: int) -> None:
    # The official files are protocol-2 pickles of numpy 1.x (numpy.core); newer writers use _core
    # and protocol 5's out-of-band buffers: all of them are plain arrays and load.
    x = torch.randint(0, 256, (2, 3072), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    blob = pickle.dumps({b"data": x.numpy(), b"fine_labels": [7, 99]}, protocol=protocol)
    if protocol == 2:  # GLOBAL names are newline-ended text here: write numpy 1.x's module name
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        (folder / name).write_bytes(blob)
    images, labels = load_cifar100(tmp_path, train=False)
    assert torch.equal(images.reshape(2, 3072), x) and labels.tolist() == [7, 99]
