"""The bench's baseline: a toy-GAN iteration built the way the authors' public demo builds it.

Issue 7 sets the main job's target as a fraction of the authors' demo iteration (hongyi-zhang/mixup,
`gan/example_gan.py`) on the same machine. That figure (66–70 ms on this machine class) moves with
the load of a shared machine, so the bench times a re-implementation of the demo's *structure* side
by side with mixgan's iteration instead: the ratio then holds whatever the load. What makes the demo
slower, reproduced here:

- every batch is built on the host (real points, noise, labels, the permutation, λ) and copied over;
- each D step draws two real+fake batches whose fakes keep their graph, so D's backward runs on
  through G (its gradients are thrown away by G's `zero_grad` later);
- the G step runs D's weight gradients too, and Adam is torch's default implementation.

The maths is the demo's mixup objective (λ ~ Uniform(0, α) per example, real–real/fake–fake/real–fake
pairs, BCE to the mixed label; G minimizes −BCE on an unmixed batch). Only the timing is used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mixgan.data.toy import grid_means
from mixgan.models.mlp import mlp


def demo_iteration(device: torch.device, alpha: float = 0.2, batch: int = 128, hidden: int = 512,
                   depth: int = 3, latent: int = 2, d_steps: int = 5, seed: int = 0) -> Callable[[], None]:
    """One call = one demo-style iteration (d_steps D updates, one G update) on `device`."""
    torch.manual_seed(seed)
    G, D = mlp(latent, 2, hidden, depth).to(device), mlp(2, 1, hidden, depth).to(device)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    means = grid_means()  # on the host, like every other draw below
    host = torch.Generator().manual_seed(seed)

    def to_dev(x: torch.Tensor, grad: bool = False) -> torch.Tensor:
        return x.to(device).requires_grad_(grad)

    def one_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(means.shape[0], (batch,), generator=host)
        real = to_dev(torch.randn(batch, 2, generator=host) * 0.01 + means[idx], grad=True)
        fake = G(to_dev(torch.randn(batch, latent, generator=host), grad=True))  # keeps G's graph
        labels = to_dev(torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)]))
        perm = to_dev(torch.randperm(2 * batch, generator=host))
        return torch.cat([real, fake])[perm], labels[perm]

    def mixed() -> tuple[torch.Tensor, torch.Tensor]:
        (x1, y1), (x2, y2) = one_batch(), one_batch()
        lam = to_dev(torch.rand(2 * batch, 1, generator=host) * alpha)
        return lam * x1 + (1 - lam) * x2, lam * y1 + (1 - lam) * y2

    def step() -> None:
        for _ in range(d_steps):
            x, y = mixed()
            opt_d.zero_grad()
            F.binary_cross_entropy_with_logits(D(x), y).backward()
            opt_d.step()
        x, y = one_batch()
        opt_g.zero_grad()
        (-F.binary_cross_entropy_with_logits(D(x), y)).backward()
        opt_g.step()

    return step
