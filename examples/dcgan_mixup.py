"""A plain PyTorch DCGAN-style loop turned into a mixup GAN (Zhang et al. 2018, §3.7) with three
changed lines (marked `# mixgan`), logged as mixgan runs over 3 seeds and compared:

    python examples/dcgan_mixup.py --out runs/example --steps 200
    python -m mixgan.compare runs/example     # the same table this script prints
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import mixgan


def nets(latent: int = 16, size: int = 8) -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(latent, 32 * (size // 4) ** 2), nn.Unflatten(1, (32, size // 4, size // 4)),
                      nn.ReLU(), nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 4, 2, 1),
                      nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 1))
    return G, D


def squares(n: int, gen: torch.Generator, size: int = 8) -> torch.Tensor:
    """Tiny data: one bright 3×3 square per image at a random place, in [-1, 1]."""
    x = -torch.ones(n, 1, size, size)
    pos = torch.randint(0, size - 3, (n, 2), generator=gen)
    for i, (r, c) in enumerate(pos.tolist()):
        x[i, :, r:r + 3, c:c + 3] = 1.0
    return x


def train(seed: int, out: Path, steps: int, batch: int = 32, latent: int = 16) -> Path:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G, D = nets(latent)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=1.0))  # mixgan (was: bce = nn.BCEWithLogitsLoss())
    with mixgan.run_logger(dir=out, seed=seed, total=steps, loss=loss) as run:  # records the objective
        for step in range(1, steps + 1):
            real = squares(batch, gen)
            fake = G(torch.randn(batch, latent, generator=gen))
            # mixgan (was: loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros))
            loss_d = loss.d_loss(D, real, fake.detach(), gen)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = loss.g_loss(D, real, fake, gen)  # mixgan (was: loss_g = bce(D(fake), ones))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            if step % max(steps // 4, 1) == 0 or step == steps:
                run.log(step, {"loss/D": loss_d, "loss/G": loss_g,
                               **mixgan.probe_discriminator(D, real, fake.detach())})  # own draws
    return run.run_dir


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/example_dcgan_mixup")
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args(argv)
    for seed in (0, 1, 2):
        train(seed, Path(args.out), args.steps)
    text = mixgan.compare_runs([args.out], Path(args.out) / "compare", plots=False, tensorboard=False)
    print(text)
    return text


if __name__ == "__main__":
    main()
