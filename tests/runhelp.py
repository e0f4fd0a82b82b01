"""Test helpers: tiny, fast GAN runs through the real CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixgan.train import main

# The digit classifier of the offline image metrics (the defaults: ~99% test accuracy in a few seconds),
# trained once per session by the `cache` fixture (tests/conftest.py).
CLF = {"epochs": 8, "width": 16}

# A small network and few iterations: the whole CLI path runs in about a second.
TINY = ["--model.hidden=32", "--train.iterations=40", "--metrics.every=10", "--metrics.image_every=20",
        "--metrics.n_samples=200", "--run.progress=false", "--run.checkpoint_every=20"]


def train(tmp_path: Path, *args: str, name: str = "run") -> Path:
    """Run `python -m mixgan.train` in-process; return the run dir."""
    code = main([*TINY, f"--run.dir={tmp_path}", f"--run.name={name}", *args])
    assert code == 0
    return tmp_path / name


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def make_image_folder(root: Path, sizes: dict[str, int]) -> Path:
    """root/img/<split>/<red|blue>/<i>.png: two classes of noisy solid 12x10 colour images."""
    import torch
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split, n in sizes.items():
        for c, color in (("red", (200, 20, 20)), ("blue", (20, 20, 200))):
            (root / "img" / split / c).mkdir(parents=True)
            for i in range(n):
                noise = torch.randint(0, 30, (3,), generator=g).tolist()
                Image.new("RGB", (12, 10), tuple(v + d for v, d in zip(color, noise))).save(
                    root / "img" / split / c / f"{i}.png")
    return root / "img"


def _rank(rank: int, world: int, port: int, args: list[str]) -> None:
    import os

    import torch

    # What torchrun sets for each worker; the CLI then joins a gloo group (mixgan/trainers/distributed.py).
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    code = main(args)
    from mixgan.trainers.distributed import _leave

    _leave()  # a multiprocessing child skips atexit
    os._exit(code)


def run_ranks(args: list[str], world: int = 2, timeout: float = 120) -> list[int | None]:
    """`python -m mixgan.train ARGS` as `world` ranks of one gloo group, as under torchrun; exit codes.

    The ranks are forked, so they inherit the imported modules (a fresh interpreter each costs
    ~10 s here)."""
    import multiprocessing
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rank, args=(r, world, port, args)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    return [p.exitcode for p in procs]


def assert_mixup_at_one_is_erm(monkeypatch, model: Any, x: Any, y: Any) -> None:
    """The mixup objective with λ forced to 1 gives ERM's loss, correct count and gradients, bit for bit."""
    import torch

    import mixgan.objectives.classify as obj

    erm = obj.Erm()(model, x, y, torch.Generator().manual_seed(1))
    erm_grads = torch.autograd.grad(erm.loss, list(model.parameters()))
    monkeypatch.setattr(obj, "sample_lambda", lambda n, *a, **k: torch.ones(n))
    mixed = obj.Mixup(alpha=0.2)(model, x, y, torch.Generator().manual_seed(1))
    mix_grads = torch.autograd.grad(mixed.loss, list(model.parameters()))
    assert torch.equal(erm.loss, mixed.loss) and torch.equal(erm.correct, mixed.correct)
    assert all(torch.equal(a, b) for a, b in zip(erm_grads, mix_grads, strict=True))


def poison_at(monkeypatch, cls: type, step: int, params: Callable[[Any], Any]) -> None:
    """Patch cls.advance to fill params(trainer) with NaN right after `step`: a run that diverges."""
    import torch

    original = cls.advance

    def poison(self):
        original(self)
        if self.step == step:
            with torch.no_grad():
                for p in params(self):
                    p.fill_(float("nan"))

    monkeypatch.setattr(cls, "advance", poison)


def ctrl_c_at(monkeypatch, cls: type, step: int) -> Callable[[], None]:
    """Patch cls.advance to send this process a real SIGINT (as from Ctrl-C) right after `step`;
    returns a function that restores the original advance (for the resume that follows)."""
    import os
    import signal

    original = cls.advance

    def interrupt(self):
        original(self)
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cls, "advance", interrupt)
    return lambda: monkeypatch.setattr(cls, "advance", original)


class Touch:
    """Unpickling this runs a shell command that creates `target`: what a crafted data file would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        import os

        return os.system, (f"touch {self.target}",)
