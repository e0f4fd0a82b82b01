"""Image data sets as in-memory tensors, read from local files only (mixgan never downloads).

sklearn digits, Stacked digits (1,000 modes), CIFAR-10/100, MNIST, Fashion-MNIST, ImageFolder.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from mixgan.data.checks import check_image_files, check_labels
from mixgan.errors import DataError, first_line

# Official CIFAR-10 normalization of facebookresearch/mixup-cifar10 (`train.py`, the code of
# Zhang et al. 2018, §3.2); note the std is not the exact per-channel std of the training set.
CIFAR_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)

_NEVER = "mixgan never downloads"


class Split(NamedTuple):
    """A train/test split: images or features and int64 labels, test part held out."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def num_classes(self) -> int:
        """Number of classes, assuming labels 0..K-1 (the largest label seen + 1)."""
        return int(torch.cat([self.y_train, self.y_test]).max().item()) + 1


def train_test_split(x: Tensor, y: Tensor, test_fraction: float, seed: int) -> Split:
    """Seeded stratified split: round(test_fraction * n_c) examples of each class c go to test.

    Within each part the original order is kept (the trainer shuffles). The same seed gives the
    same split on every machine (explicit CPU torch.Generator, no global RNG).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    gen = torch.Generator().manual_seed(seed)
    y_cpu = y.cpu()
    is_test = torch.zeros(y.shape[0], dtype=torch.bool)
    for c in torch.unique(y_cpu).tolist():  # sorted, so the draw order is fixed
        idx = torch.nonzero(y_cpu == c).flatten()
        n_test = round(test_fraction * idx.numel())
        is_test[idx[torch.randperm(idx.numel(), generator=gen)[:n_test]]] = True
    is_test = is_test.to(y.device)
    return Split(x[~is_test], y[~is_test], x[is_test], y[is_test])


def load_digits_images() -> tuple[Tensor, Tensor]:
    """scikit-learn's embedded 8x8 digits (1,797 images): float (N,1,8,8) in [0,1], int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixels are 0..16
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return x, y


def digits_u8() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits as uint8 (1797,1,8,8) in 0..255 (what GAN metrics see) and labels."""
    x, y = load_digits_images()
    return (x * 255).round().to(torch.uint8), y


def stacked_digits(n: int, seed: int, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked-MNIST-style data: each channel is an independently drawn single-channel digit.

    images: (N,1,H,W) or (N,H,W); labels: (N,) in 0..9. Returns (n,3,H,W) images and labels
    100*d0 + 10*d1 + d2, i.e. 1,000 modes (Metz et al. 2017; used to count covered modes).
    """
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (N,1,H,W) or (N,H,W), got {tuple(images.shape)}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, images.shape[0], (3, n), generator=gen).to(images.device)
    x = torch.cat([images[idx[k]] for k in range(3)], dim=1)
    d = labels.to(images.device)[idx]
    return x, (100 * d[0] + 10 * d[1] + d[2]).long()


def to_float(x: Tensor) -> Tensor:
    """uint8 images in 0..255 → float32 in [0,1] (as torchvision's ToTensor)."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


# --- CIFAR: the "python version" pickle batches ------------------------------------------------

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_CIFAR: dict[str, dict[str, Any]] = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "expect": "data_batch_1..5 and test_batch",
        "label_key": "labels",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "expect": "train and test",
        "label_key": "fine_labels",
    },
}


def _cifar_error(name: str, root: Path, why: str) -> DataError:
    spec = _CIFAR[name]
    return DataError(
        f"{name}: {why} in {root}: expected {root / spec['folder']}/{spec['expect']} "
        f"(the python version from {_CIFAR_URL}); {_NEVER}"
    )


class _CifarUnpickler(pickle.Unpickler):
    """Reads the CIFAR "python version" pickles as data: dicts, lists, bytes, str, numbers and numpy
    arrays. Any other global (a function or class a crafted file names, e.g. os.system) is refused
    before it can be called, so a batch file can never run code."""

    # What numpy's array and dtype pickles name (numpy 1.x `core`, numpy 2.x `_core`; protocol 5
    # writes _frombuffer). Each only builds an array from the file's bytes.
    _NUMPY = {("numpy", "ndarray"), ("numpy", "dtype")} | {
        (f"numpy.{core}.{mod}", fn) for core in ("core", "_core")
        for mod, fn in (("multiarray", "_reconstruct"), ("numeric", "_frombuffer"))}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._NUMPY:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes in protocol 2
            return _latin1_bytes
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch never holds")


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes, and nothing else of it."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("it encodes text other than bytes")
    return text.encode("latin1")


def _read_cifar_batch(path: Path, label_key: str) -> tuple[Tensor, Tensor]:
    """One batch: a dict with `data` (N x 3072 uint8, channel-major rows) and N int labels."""
    import numpy as np

    with path.open("rb") as f:
        entry = _CifarUnpickler(f, encoding="bytes").load()
    if not isinstance(entry, dict):
        raise ValueError(f"it holds a {type(entry).__name__}, not a dict")
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.size % 3072:
        raise ValueError("its 'data' is not a uint8 array of N x 3072 pixels")
    labels = np.asarray(labels) if isinstance(labels, list | np.ndarray) else None
    if labels is None or labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.size * 3072 != data.size:
        raise ValueError(f"its {label_key!r} is not a list of one integer label per image")
    pixels = torch.from_numpy(data if data.flags.writeable else data.copy())  # protocol 5: read-only
    return pixels.reshape(-1, 3, 32, 32), torch.from_numpy(labels.astype(np.int64))


def load_cifar(name: str, root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """CIFAR-10 ("cifar10") or CIFAR-100 ("cifar100", fine labels) from <root>/<folder>/.

    Returns uint8 (N,3,32,32) images and int64 labels; DataError if a batch file is missing.
    """
    if name not in _CIFAR:
        raise DataError(f"unknown CIFAR data set {name!r}: expected one of {sorted(_CIFAR)}")
    root = Path(root).expanduser()
    spec = _CIFAR[name]
    files = [root / spec["folder"] / f for f in spec["train" if train else "test"]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        why = "no data" if len(missing) == len(files) else f"missing {', '.join(missing)}"
        raise _cifar_error(name, root, why)
    parts = []
    for f in files:
        try:
            parts.append(_read_cifar_batch(f, spec["label_key"]))
        except Exception as err:  # the file is untrusted data: whatever breaks in it is "unreadable"
            raise _cifar_error(name, root, f"unreadable batch {f.name} ({first_line(err)})") from None
        check_labels(parts[-1][1], 100 if name == "cifar100" else 10, f"{name}: {f}")
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def load_cifar10(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """CIFAR-10 from <root>/cifar-10-batches-py/: uint8 (N,3,32,32), int64 labels 0..9."""
    return load_cifar("cifar10", root, train)


def load_cifar100(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """CIFAR-100 from <root>/cifar-100-python/: uint8 (N,3,32,32), int64 fine labels 0..99."""
    return load_cifar("cifar100", root, train)


# --- MNIST / Fashion-MNIST: IDX files, gzipped or not ------------------------------------------

_IDX_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IDX_URL = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist",
}


def read_idx(path: str | Path) -> Tensor:
    """Read one IDX file with uint8 data (MNIST format: magic 2051 images, 2049 labels).

    A ".gz" file is decompressed on the fly. Raises ValueError on a malformed file.
    """
    from mixgan.config.untrusted import read_bytes

    path = Path(path)
    data = read_bytes(path, 2**31)  # a regular file (no FIFO, no device), at most 2 GiB
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:  # truncated or not gzip at all
            raise ValueError(f"{path.name}: not a complete gzip file ({first_line(err)})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = 1
    for s in shape:
        count *= s
    if len(data) - offset != count:
        raise ValueError(f"{path}: header says {shape} but holds {len(data) - offset} bytes")
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(shape)


def _find_idx(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        if candidate.exists():  # a FIFO or a device is then refused by read_idx, never opened
            return candidate
    return None


def load_mnist_like(name: str, root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST ("mnist") or Fashion-MNIST ("fashion_mnist") from torchvision's layout.

    Reads <root>/MNIST/raw/ or <root>/FashionMNIST/raw/ {train,t10k}-{images-idx3,labels-idx1}
    -ubyte[.gz]. Returns uint8 (N,1,28,28) images and int64 labels.
    """
    if name not in _IDX_FOLDER:
        raise DataError(f"unknown IDX data set {name!r}: expected one of {sorted(_IDX_FOLDER)}")
    root = Path(root).expanduser()
    raw = root / _IDX_FOLDER[name] / "raw"
    prefix = "train" if train else "t10k"
    stems = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    paths = [_find_idx(raw, s) for s in stems]
    expected = f"{raw}/{stems[0]}[.gz] and {stems[1]}[.gz] (from {_IDX_URL[name]}); {_NEVER}"
    if any(p is None for p in paths):
        raise DataError(f"{name}: no data in {root}: expected {expected}")
    try:
        images, labels = read_idx(paths[0]), read_idx(paths[1])
    except (OSError, ValueError, RuntimeError) as err:
        why = first_line(err)
        raise DataError(f"{name}: unreadable file in {raw} ({why}): expected {expected}") from None
    if images.dim() != 3 or labels.dim() != 1:
        bad, shape = (paths[0], images.shape) if images.dim() != 3 else (paths[1], labels.shape)
        raise DataError(f"{name}: {bad} holds an array of shape {tuple(shape)}; accepted: images (N, H, W) "
                        "and labels (N,)")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{name}: {images.shape[0]} images but {labels.shape[0]} labels in {raw}: "
            f"expected {expected}"
        )
    check_labels(labels, 10, f"{name}: {paths[1]}")
    return images.unsqueeze(1), labels.long()


def load_mnist(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST from <root>/MNIST/raw/: uint8 (N,1,28,28), int64 labels 0..9."""
    return load_mnist_like("mnist", root, train)


def load_fashion_mnist(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST from <root>/FashionMNIST/raw/: uint8 (N,1,28,28), int64 labels 0..9."""
    return load_mnist_like("fashion_mnist", root, train)


LOCAL_IMAGE_LOADERS: dict[str, Callable[[str | Path, bool], tuple[Tensor, Tensor]]] = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
}


def load_local_images(name: str, root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """Dispatch on a data set name; unknown names raise DataError listing the accepted ones."""
    if name not in LOCAL_IMAGE_LOADERS:
        raise DataError(
            f"unknown image data set {name!r}: expected one of {sorted(LOCAL_IMAGE_LOADERS)}"
        )
    return LOCAL_IMAGE_LOADERS[name](root, train)


# --- ImageFolder: lazy (too big for memory) ----------------------------------------------------


def image_folder(
    root: str | Path, split: str = "train", transform: Callable | None = None
) -> torch.utils.data.Dataset:
    """torchvision ImageFolder over <root>/<split>/<class>/<image>, decoded lazily.

    Without a transform, items are (float (C,H,W) in [0,1], label) via ToTensor.
    """
    from torchvision import datasets, transforms

    folder = Path(root).expanduser() / split
    expected = f"expected {folder}/<class>/<image>.png|.jpg (one sub-folder per class); {_NEVER}"
    if not folder.is_dir():
        raise DataError(f"image_folder: no data in {folder}: {expected}")
    try:
        ds = datasets.ImageFolder(str(folder), transform=transform or transforms.ToTensor())
    except (FileNotFoundError, RuntimeError) as err:
        reason = " ".join(str(err).split())  # torchvision's message, kept on one line
        raise DataError(f"image_folder: {reason.rstrip('.')} in {folder}: {expected}") from None
    check_image_files(ds.samples, folder)  # a corrupt file: one line now, not a worker's traceback later
    return ds
