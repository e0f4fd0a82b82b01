"""The digit classifier behind the offline image-GAN metrics: a SmallCNN trained on scikit-learn's 8x8
digits, cached on disk, used as a torch-fidelity feature extractor and to count Stacked-digits modes.
"""

from __future__ import annotations

import hashlib
import os
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


def u8_to_input(x: Tensor) -> Tensor:
    """uint8 (N,C,H,W) images → float (N*C,1,8,8) in [0,1]: one single-channel digit per channel."""
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w).float() / 255
    if (h, w) != (DIGITS_SIZE, DIGITS_SIZE):
        x = F.interpolate(x, size=(DIGITS_SIZE, DIGITS_SIZE), mode="area")
    return x


def train_digit_classifier(epochs: int = 8, seed: int = 0, width: int = 16,
                           hidden: int = 64) -> tuple[SmallCNN, float]:
    """A SmallCNN trained by mixgan's classifier trainer (`task: classify`, ERM) on 80% of the digits,
    with ±1 px random shifts; returns (the network, its accuracy on the held-out 20%).

    Trained in this process alone, even under torchrun (only rank 0 measures image quality), and
    with the global RNG state put back afterwards, so that training it changes no GAN run.
    """
    from mixgan.config.core import config_from_dict
    from mixgan.trainers.classifier import ClassifierTrainer

    cfg = config_from_dict({
        "task": "classify", "seed": seed, "device": "cpu",
        "data": {"name": "digits", "test_fraction": 0.2, "split_seed": seed, "augment": True, "pad": 1,
                 "flip": False},
        "model": {"name": "small_cnn", "width": width, "hidden": hidden},
        "train": {"epochs": epochs, "batch_size": 64, "optimizer": "adam", "lr": 3e-3, "weight_decay": 0.0,
                  "milestones": []},
    })
    threads, world = torch.get_num_threads(), os.environ.pop("WORLD_SIZE", None)
    torch.set_num_threads(1)  # 8x8 convolutions: intra-op threads cost more than they save (10x, busy CPU)
    try:
        with torch.random.fork_rng(devices=[]):
            trainer = ClassifierTrainer(cfg, torch.device("cpu"))
            while trainer.step < trainer.total:
                trainer.advance()
            error = trainer.measure()["test/error"]
    finally:
        torch.set_num_threads(threads)
        if world is not None:
            os.environ["WORLD_SIZE"] = world
    return trainer.model.net.eval(), 1 - error / 100


def load_digit_classifier(cache_dir: str | Path, epochs: int = 8, seed: int = 0, width: int = 16,
                          hidden: int = 64) -> DigitNet:
    """The cached classifier of these settings; trained once (a few seconds) and written atomically."""
    from mixgan.rundir.checkpoint import save_checkpoint

    folder = Path(cache_dir).expanduser()
    path = folder / f"digit_classifier-small_cnn-w{width}-h{hidden}-e{epochs}-s{seed}.pt"
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
