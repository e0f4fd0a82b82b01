"""Checks of a user's data before training starts (issue 25): labels in range, no empty split, every
image of a folder decodable, the same classes in every split, images large enough for the network.
Each failure is one DataError naming the file or folder and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mixgan.errors import DataError, first_line


def check_labels(labels: Tensor, num_classes: int, where: str) -> None:
    """Labels 0..num_classes-1 and at least one of them (a CIFAR batch of zero images is refused)."""
    if labels.numel() == 0:
        raise DataError(f"{where}: holds zero images; accepted: a batch with images")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise DataError(f"{where}: a label is {bad}; accepted: labels 0..{num_classes - 1}")


def check_image_files(samples: list[tuple[str, int]], folder: Path) -> None:
    """Every image of an ImageFolder opens as an image (headers only: cheap, before training), so that
    a corrupt file is one line now rather than a worker's traceback mid-run."""
    from PIL import Image

    for path, _ in samples:
        try:
            with Image.open(path) as im:
                im.verify()  # reads the file's structure (PNG chunks and their CRCs), not its pixels
        except Exception as err:  # noqa: BLE001 - a user's image file: any decode error is bad input
            why = first_line(err)[:100]
            raise DataError(f"image_folder: {path}: not a readable image ({why}); accepted: PNG/JPEG files "
                            f"under {folder}/<class>/") from None


def check_same_classes(train: Any, other: Any, root: Path, split: str) -> None:
    """The classes (sub-folders) of `split` are the training split's, in the same order: labels are
    folder indices, so a class missing from one split would silently shift every label after it."""
    if list(other.classes) != list(train.classes):
        extra = sorted(set(other.classes) - set(train.classes))
        missing = sorted(set(train.classes) - set(other.classes))
        what = (f"has classes the train split lacks: {', '.join(extra[:5])}" if extra
                else f"lacks classes of the train split: {', '.join(missing[:5])}")
        raise DataError(f"image_folder: {root / split} {what}; accepted: the same class folders in "
                        f"{root / 'train'} and {root / split}")


def check_input_size(model: torch.nn.Module, in_shape: tuple[int, ...], what: str) -> None:
    """One forward pass of one zero input (no gradients, eval mode) before training: images too small
    for the network (more poolings than pixels) are one line naming the size, not a traceback."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *in_shape, device=device))
    except (RuntimeError, ValueError) as err:
        size = " x ".join(map(str, in_shape))
        raise DataError(f"{what}: inputs of {size} do not fit the network ({first_line(err)[:120]}); "
                        "accepted: larger images (data.image_size) or a smaller model") from None
    finally:
        model.train(was_training)
