"""Training the digit classifier behind the offline image-GAN metrics (metrics/digits_net.py reads it):
mixgan's own classifier trainer on scikit-learn's 8x8 digits, trained once and cached on disk.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from mixgan.metrics.digits_net import DigitNet, read_digit_net
from mixgan.models.cnn import SmallCNN


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
    return read_digit_net(path)
