"""Classifier data sets by name: embedded (digits, tabular, 2-D toys) and local folders, as one
`ClassifyData` (in-memory tensors on the device, or lazy ImageFolder sets for a DataLoader).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mixgan.data.images import CIFAR_MEAN, CIFAR_STD

VECTOR_DATA = ("iris", "wine", "breast_cancer", "moons", "blobs")  # features (N, D), standardized
LOCAL_DATA = ("cifar10", "cifar100", "mnist", "fashion_mnist")  # read from data.root
IN_MEMORY = ("digits", *VECTOR_DATA, *LOCAL_DATA, "speech_commands")  # speech: spectrograms (N, 1, F, 101)
CLASSIFY_DATA = (*IN_MEMORY, "imagefolder")

# Per-channel normalization applied inside the model wrapper, so that data, attacks (adversarial.py)
# and mixing all live in pixel space [0, 1]. CIFAR-10: the official mixup-cifar10 constants.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": (CIFAR_MEAN, CIFAR_STD),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet statistics
}


@dataclass
class ClassifyData:
    """A train/test pair. In-memory sets fill x/y (float pixels in [0,1], standardized features or
    spectrograms, int64 labels, on the device); folder sets fill train_set/test_set instead. A set
    with a validation split besides its test split (speech_commands) also fills x_val/y_val."""

    num_classes: int
    in_shape: tuple[int, ...]  # (C, H, W) or (D,)
    x_train: Tensor | None = None
    y_train: Tensor | None = None
    x_test: Tensor | None = None
    y_test: Tensor | None = None
    train_set: Any = None
    test_set: Any = None
    corrupted: Tensor | None = None  # bool mask of the training labels replaced (Table 2)
    x_val: Tensor | None = None
    y_val: Tensor | None = None

    @property
    def n_train(self) -> int:
        return len(self.train_set) if self.x_train is None else self.x_train.shape[0]

    @property
    def is_image(self) -> bool:
        return len(self.in_shape) == 3

    def to(self, device: torch.device) -> ClassifyData:
        for key in ("x_train", "y_train", "x_test", "y_test", "corrupted", "x_val", "y_val"):
            value = getattr(self, key)
            if value is not None:
                setattr(self, key, value.to(device))
        return self


def _embedded(name: str, test_fraction: float, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if name == "digits":
        from mixgan.data.images import load_digits_images, train_test_split

        return tuple(train_test_split(*load_digits_images(), test_fraction, seed))  # type: ignore[return-value]
    from mixgan.data.tabular import load_tabular

    return tuple(load_tabular(name, seed, test_fraction))  # type: ignore[return-value]


def _folder(cfg: Any) -> ClassifyData:
    from torchvision import transforms

    from mixgan.data.checks import check_same_classes
    from mixgan.data.images import image_folder

    size = cfg.image_size
    flip = [transforms.RandomHorizontalFlip()] if cfg.flip else []
    train_tf = [transforms.RandomResizedCrop(size), *flip]
    test_tf = [transforms.Resize(round(size * 8 / 7)), transforms.CenterCrop(size)]
    train = image_folder(cfg.root, "train", transforms.Compose([*train_tf, transforms.ToTensor()]))
    test = image_folder(cfg.root, "val", transforms.Compose([*test_tf, transforms.ToTensor()]))
    check_same_classes(train, test, Path(cfg.root).expanduser(), "val")  # labels are folder indices
    return ClassifyData(len(train.classes), (3, size, size), train_set=train, test_set=test)


def load_classify_data(cfg: Any, seed: int, device: torch.device | None = None) -> ClassifyData:
    """The data set named by a `data` config section (on the CPU; `.to(device)` it). Speech
    spectrograms are computed on `device` and left there.

    Labels are corrupted here, once, with their own seed (`data.corrupt_seed`), so that every
    run of a corrupted-labels comparison sees the same noisy labels. As in the paper (Table 2,
    after Zhang et al. 2017) a replaced label is uniform over all classes, so it is right by chance
    1/K of the time; `corrupt_exclude_true` draws it from the other classes instead.
    """
    from mixgan.data.augment import corrupt_labels
    from mixgan.data.images import load_local_images, to_float

    if cfg.name == "imagefolder":
        data = _folder(cfg)
    elif cfg.name == "speech_commands":
        from mixgan.data.speech import load_speech_commands

        s = load_speech_commands(cfg.root, cfg.n_mels, device or torch.device("cpu"), cfg.workers)
        data = ClassifyData(s["num_classes"], tuple(s["x_train"].shape[1:]), s["x_train"], s["y_train"],
                            s["x_test"], s["y_test"], x_val=s["x_val"], y_val=s["y_val"])
    else:
        if cfg.name in LOCAL_DATA:
            root = Path(cfg.root).expanduser()
            x_tr, y_tr = load_local_images(cfg.name, root, train=True)
            x_te, y_te = load_local_images(cfg.name, root, train=False)
            x_tr, x_te = to_float(x_tr), to_float(x_te)
        else:
            split_seed = seed if cfg.split_seed < 0 else cfg.split_seed
            x_tr, y_tr, x_te, y_te = _embedded(cfg.name, cfg.test_fraction, split_seed)
        k = int(torch.cat([y_tr, y_te]).max()) + 1
        data = ClassifyData(k, tuple(x_tr.shape[1:]), x_tr, y_tr, x_te, y_te)
    if cfg.corrupt > 0:
        labels = data.y_train if data.y_train is not None else torch.as_tensor(data.train_set.targets)
        noisy, data.corrupted = corrupt_labels(labels, cfg.corrupt, data.num_classes, cfg.corrupt_seed,
                                               cfg.corrupt_exclude_true)
        if data.y_train is not None:
            data.y_train = noisy
        else:
            data.train_set.samples = [(p, int(t)) for (p, _), t in zip(data.train_set.samples, noisy)]
            data.train_set.targets = noisy.tolist()
    return data
