"""The digit classifier behind the offline image-GAN metrics: a SmallCNN trained on scikit-learn's 8x8
digits, cached on disk, used as a torch-fidelity feature extractor and to count Stacked-digits modes.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from mixgan.errors import CheckpointError
from mixgan.models.cnn import SmallCNN

DIGITS_SIZE = 8  # the classifier's input size; other sizes are area-resized to it


@dataclass(frozen=True)
class DigitNet:
    """A trained digit classifier (eval mode, frozen), the file it lives in, and its test accuracy."""

    model: SmallCNN
    path: Path
    accuracy: float

    @property
    def tag(self) -> str:
        """A short hash of the weights file: names the feature extractor and its cached statistics."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:10]


def digits_u8() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits as uint8 (1797,1,8,8) in 0..255 (what GAN metrics see) and labels."""
    from mixgan.data.images import load_digits_images

    x, y = load_digits_images()
    return (x * 255).round().to(torch.uint8), y


def u8_to_input(x: Tensor) -> Tensor:
    """uint8 (N,C,H,W) images → float (N*C,1,8,8) in [0,1]: one single-channel digit per channel."""
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w).float() / 255
    if (h, w) != (DIGITS_SIZE, DIGITS_SIZE):
        x = F.interpolate(x, size=(DIGITS_SIZE, DIGITS_SIZE), mode="area")
    return x


def train_digit_classifier(epochs: int = 8, seed: int = 0, width: int = 32,
                           hidden: int = 128) -> tuple[SmallCNN, float]:
    """Cross-entropy training on 80% of the digits with ±1 px random shifts; returns (model, test acc).

    A small stand-in for the classifier trainer (mixgan/trainers/classifier.py): the metric needs
    only a fixed, seeded, accurate digit classifier, trained in seconds on the CPU.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 8x8 convolutions: intra-op threads cost more than they save (10x, busy CPU)
    try:
        return _train(epochs, seed, width, hidden)
    finally:
        torch.set_num_threads(threads)


def _train(epochs: int, seed: int, width: int, hidden: int) -> tuple[SmallCNN, float]:
    from mixgan.data.augment import random_crop
    from mixgan.data.images import train_test_split

    x, y = digits_u8()
    split = train_test_split(u8_to_input(x), y, test_fraction=0.2, seed=seed)
    torch.manual_seed(seed)
    model = SmallCNN(1, 10, width=width, hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(split.x_train.shape[0], generator=gen).split(64):
            xb = random_crop(split.x_train[idx], gen, pad=1)  # robust to the small shifts of G's digits
            loss = F.cross_entropy(model(xb), split.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(split.x_test).argmax(1) == split.y_test).float().mean().item()
    return model, acc


def load_digit_classifier(cache_dir: str | Path, epochs: int = 8, seed: int = 0, width: int = 32,
                          hidden: int = 128) -> DigitNet:
    """The cached classifier of these settings; trained once (a few seconds) and written atomically."""
    from mixgan.checkpoint import save_checkpoint

    folder = Path(cache_dir).expanduser()
    path = folder / f"digits_cnn-w{width}-h{hidden}-e{epochs}-s{seed}.pt"
    if not path.is_file():
        print(f"mixgan: training the digit classifier for the offline metrics once (cached in {path})",
              file=sys.stderr)
        model, acc = train_digit_classifier(epochs, seed, width, hidden)
        folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint({"state_dict": model.state_dict(), "accuracy": acc, "width": width,
                         "hidden": hidden}, path)
    state = _load(path)
    return DigitNet(_model_from(state), path, float(state["accuracy"]))


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which, and how to get a fresh one
        raise CheckpointError(f"digit classifier {path} is unreadable ({type(err).__name__}); "
                              f"delete it to retrain") from None


def load_digit_model(path: str | Path) -> SmallCNN:
    """A SmallCNN from a file written by `load_digit_classifier` (read with weights_only=True)."""
    return _model_from(_load(Path(path)))


def _model_from(state: dict) -> SmallCNN:
    model = SmallCNN(1, 10, width=int(state["width"]), hidden=int(state["hidden"]))
    model.load_state_dict(state["state_dict"])
    return model.eval().requires_grad_(False)


@torch.no_grad()
def classify_channels(model: SmallCNN, images: Tensor, batch: int = 2048) -> Tensor:
    """Digit (0..9) of every channel of uint8 (N,C,H,W) images: (N, C) int64 (Stacked MNIST protocol)."""
    device = next(model.parameters()).device
    n, c = images.shape[:2]
    out = [model(u8_to_input(part.to(device))).argmax(1).cpu() for part in images.split(batch)]
    return torch.cat(out).reshape(n, c)
