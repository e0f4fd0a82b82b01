"""Stability measurements of a GAN: gradient norms (parameters and input) and D's outputs."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mixgan.mixup import mix


def grad_norm(module: nn.Module) -> Tensor:
    """L2 norm of all parameter gradients of `module`, as a 0-dim tensor (no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def input_grad_norm(D: nn.Module, x: Tensor) -> Tensor:
    """Mean over the batch of ‖∂d(x)/∂x‖: how steep D is at x (mixup's regularizing effect, §3.7)."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    return g.flatten(1).norm(dim=1).mean()


def probe_keys(probability: bool = True) -> tuple[str, ...]:
    """The names probe_discriminator returns (what a sweep's `metrics:` is checked against)."""
    kind = "D" if probability else "critic"
    return (f"stability/{kind}_real", f"stability/{kind}_fake", "stability/grad_input_real",
            "stability/grad_input_fake", "stability/grad_input_mixed")


def probe_discriminator(
    D: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator | None = None, probability: bool = True
) -> dict[str, Tensor]:
    """D(x) and D(g(z)) as probabilities, and D's input-gradient norm at real, fake and mixed points.

    A critic whose output is not a logit (hinge, least squares, WGAN: `probability=False`) reports
    its raw mean outputs as stability/critic_real and stability/critic_fake instead of σ(D).
    Mixed points use λ ~ U(0, 1) per sample, independent of the objective, so that ERM and
    mixup runs are measured alike. `gen` draws those λ; by default a generator of the probe's own
    (seed 0), so that measuring never consumes a training stream (pass your training generator and
    the probe shifts every later draw of your run).
    """
    if gen is None:
        gen = torch.Generator(real.device).manual_seed(0)
    lam = torch.rand(real.shape[0], device=real.device, generator=gen)
    squash = torch.sigmoid if probability else (lambda t: t)
    with torch.no_grad():
        d_real = squash(D(real)).mean()
        d_fake = squash(D(fake)).mean()
    grads = (input_grad_norm(D, real), input_grad_norm(D, fake), input_grad_norm(D, mix(real, fake, lam)))
    return dict(zip(probe_keys(probability), (d_real, d_fake, *grads)))
