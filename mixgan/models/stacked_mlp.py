"""S MLPs of the same shape (models/mlp.py) as stacked (S, out, in) weights: one batched matmul per layer.

Used to train many toy-GAN seeds at once (trainers/gan_batched.py). On the CPU each seed's slice
computes exactly what its own nn.Linear computes, to the bit (tests/test_batched.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

THIN = 16  # on the CPU, layers with a side below this run per seed (see _linear)


class _BatchedLinear(torch.autograd.Function):
    """baddbmm with the backward F.linear's autograd computes, per seed, in the same layouts.

    Autograd's own bmm backward would produce W's gradient as the transpose of an (S, in, out)
    product, which AccumulateGrad then copies into W's layout (a fifth of the CPU time at S = 8).
    Here ∂W = ∂yᵀ·x is computed directly as (S, out, in), as addmm's backward does for one seed.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(x, W)
        return torch.baddbmm(b.unsqueeze(1), x, W.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, W = ctx.saved_tensors
        need_x, need_W, need_b = ctx.needs_input_grad
        return (grad.bmm(W) if need_x else None,  # ∂x = ∂y·W
                grad.transpose(1, 2).bmm(x) if need_W else None,  # ∂W = ∂yᵀ·x
                grad.sum(1) if need_b else None)  # ∂b = Σ_n ∂y


def _linear(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """x (S, N, in) @ W (S, out, in)ᵀ + b (S, out) → (S, N, out).

    Wide layers are one baddbmm: on the CPU, bmm runs each seed through the same GEMM as F.linear, to
    the bit (checked by the tests at every width they use). Thin layers (D's output, G's latent input)
    run per seed on the CPU: for them bmm picks another GEMM path and the last bit differs (D's
    logits; G's first-layer weight gradient for latent 5 or 10). They cost almost nothing.
    """
    if x.device.type == "cpu" and min(W.shape[1], W.shape[2]) < THIN:
        return torch.stack([F.linear(*args) for args in zip(x.unbind(0), W.unbind(0), b.unbind(0))])
    return _BatchedLinear.apply(x, W, b)


class StackedMLP(nn.Module):
    """S MLPs of models/mlp.py ([Linear, ReLU] × depth, Linear) as (S, out, in) weights.

    Building it rebinds each seed's own nn.Linear parameters to views of the stacked ones, so the
    seed's module always shows (and its checkpoint saves) the current weights.
    """

    def __init__(self, nets: list[nn.Sequential]) -> None:
        super().__init__()
        kinds = [type(m) for m in nets[0]]
        if kinds != [nn.Linear, nn.ReLU] * (len(kinds) // 2) + [nn.Linear]:
            raise ValueError(f"StackedMLP expects [Linear, ReLU] * depth + [Linear], got {kinds}")
        self.weight, self.bias = nn.ParameterList(), nn.ParameterList()
        for layer in zip(*[[m for m in net if isinstance(m, nn.Linear)] for net in nets]):
            W = nn.Parameter(torch.stack([lin.weight.detach() for lin in layer]))
            b = nn.Parameter(torch.stack([lin.bias.detach() for lin in layer]))
            for s, lin in enumerate(layer):
                lin.weight.data, lin.bias.data = W.data[s], b.data[s]
            self.weight.append(W)
            self.bias.append(b)
        # (stacked parameter, the seeds' own parameters) in nn.Module.parameters() order
        self.links = [(st, [p for p in own]) for st, *own in
                      zip(self._stacked(), *[list(net.parameters()) for net in nets])]

    def _stacked(self) -> list[nn.Parameter]:
        return [p for pair in zip(self.weight, self.bias) for p in pair]

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.weight) - 1
        for i, (W, b) in enumerate(zip(self.weight, self.bias)):
            x = _linear(x, W, b)
            if i < last:
                x = torch.relu(x)
        return x

    def grad_norms(self) -> Tensor:
        """Each seed's L2 norm of all parameter gradients (S,), as metrics.stability.grad_norm."""
        per_param = [torch.linalg.vector_norm(p.grad.flatten(1), dim=1) for p in self._stacked()]
        return torch.linalg.vector_norm(torch.stack(per_param, 1), dim=1)

    def share_grads(self) -> None:
        """Point each seed's parameter .grad at its slice of the stacked gradient (no copy)."""
        for stacked, own in self.links:
            for p, g in zip(own, stacked.grad.unbind(0)):
                p.grad = g
