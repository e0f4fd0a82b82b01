"""Your own G and D through mixgan's loop (`mixgan.train_gan`): mixup + R1 on the paper's 5×5 grid
(Figure 5), three seeds, the toy quality scores and your own metric measured on the way, compared:

    python examples/own_gan.py --out runs/own --steps 2000
    python examples/own_gan.py --resume runs/own/mixup-s0 --steps 3000   # continue (or extend) one run
    python -m mixgan.compare runs/own                                     # the table this script prints
    tensorboard --logdir runs/own
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

import mixgan


class Generator(nn.Module):
    def __init__(self, latent: int = 2, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def radius(G: nn.Module, step: int) -> dict[str, float]:
    """Your own number, logged beside mixgan's: the mean distance of G's points from the origin."""
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return {"mine/radius": float(G(z).norm(dim=1).mean())}


def run(seed: int, args: argparse.Namespace, resume: str | None = None) -> dict:
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2), stabilizers=[mixgan.R1(weight=1.0)], d_steps=5)
    return mixgan.train_gan(G=Generator, D=Discriminator, data="grid25", loss=loss, steps=args.steps,
                            batch_size=128, lr=1e-4, betas=(0.5, 0.99), seed=seed, dir=args.out,
                            name=f"mixup-s{seed}", config={"method": "mixup+r1"}, evaluate=radius,
                            metrics_every=args.every, image_every=10 * args.every,
                            checkpoint_every=5 * args.every, progress=not args.quiet, resume=resume)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/own")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--every", type=int, default=200, help="iterations between measurements")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run dir (its seed is in its name)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.resume:
        seed = int(args.resume.rstrip("/").rsplit("-s", 1)[1])
        run(seed, args, resume=args.resume)
    else:
        for seed in range(args.seeds):
            run(seed, args)
    text = mixgan.compare_runs([args.out], f"{args.out}/compare", plots=False)
    print(text)
    return text


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # train_gan checkpointed the run and stopped the loop of seeds
        print("interrupted: resume with --resume RUN_DIR", file=sys.stderr)
        sys.exit(130)
