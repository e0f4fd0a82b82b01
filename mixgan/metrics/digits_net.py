"""The digit classifier behind the offline image-GAN metrics: a SmallCNN trained on scikit-learn's 8x8
digits (trainers/digits_net.py trains and caches it), read here from its file, used as a torch-fidelity
feature extractor and to count Stacked-digits modes.
"""

from __future__ import annotations

import hashlib
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


def u8_to_input(x: Tensor) -> Tensor:
    """uint8 (N,C,H,W) images → float (N*C,1,8,8) in [0,1]: one single-channel digit per channel."""
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w).float() / 255
    if (h, w) != (DIGITS_SIZE, DIGITS_SIZE):
        x = F.interpolate(x, size=(DIGITS_SIZE, DIGITS_SIZE), mode="area")
    return x


def read_digit_net(path: str | Path) -> DigitNet:
    """The classifier in `path` (written by trainers/digits_net.load_digit_classifier), its accuracy and
    file, read with weights_only=True; metrics only read the net, trainers/digits_net trains it."""
    path = Path(path)
    state = _load(path)
    return DigitNet(_model_from(state), path, float(state["accuracy"]))


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which, and how to get a fresh one
        raise CheckpointError(f"digit classifier {path} is unreadable ({type(err).__name__}); "
                              f"delete it to retrain") from None


def load_digit_model(path: str | Path) -> SmallCNN:
    """A SmallCNN from a file written by trainers/digits_net.load_digit_classifier (weights_only=True)."""
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
