"""S MLPs of the same shape (models/mlp.py) as stacked (S, out, in) weights: one batched matmul per layer.

The toy GAN trains a stack of S members at once with these (trainers/toy_gan.py); S = 1 is an
ordinary run and takes F.linear, the op nn.Linear runs. A member's weights are read and written in
nn.Sequential's own state-dict layout (`member_state_dict`), so its checkpoint is that of a plain MLP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _BatchedLinear(torch.autograd.Function):
    """baddbmm with the backward that F.linear's autograd computes, per member, in the same layouts.

    Autograd's own bmm backward would produce W's gradient as the transpose of an (S, in, out)
    product, which AccumulateGrad then copies into W's layout (a fifth of the CPU time at S = 8).
    Here ∂W = ∂yᵀ·x is computed directly as (S, out, in), as addmm's backward does for one member.
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


def stacked_linear(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """x (S, N, in) @ W (S, out, in)ᵀ + b (S, out) → (S, N, out); S = 1 runs F.linear itself."""
    if W.shape[0] == 1:
        return F.linear(x[0], W[0], b[0]).unsqueeze(0)
    return _BatchedLinear.apply(x, W, b)


class StackedMLP(nn.Module):
    """S MLPs of models/mlp.py ([Linear, ReLU] × depth, Linear) as (S, out, in) weights.

    With `spectral_norm`, every layer uses W/σ(W), σ estimated per member by one power iteration per
    training forward pass on persistent vectors u, v (Miyato et al. 2018; as torch.nn.utils.
    parametrizations.spectral_norm does for one matrix).
    """

    def __init__(self, nets: list[nn.Sequential], spectral_norm: bool = False) -> None:
        super().__init__()
        self.spectral_norm = spectral_norm
        kinds = [type(m) for m in nets[0]]
        if kinds != [nn.Linear, nn.ReLU] * (len(kinds) // 2) + [nn.Linear]:
            raise ValueError(f"StackedMLP expects [Linear, ReLU] * depth + [Linear], got {kinds}")
        self.weight, self.bias = nn.ParameterList(), nn.ParameterList()
        for layer in zip(*[[m for m in net if isinstance(m, nn.Linear)] for net in nets]):
            self.weight.append(nn.Parameter(torch.stack([lin.weight.detach() for lin in layer])))
            self.bias.append(nn.Parameter(torch.stack([lin.bias.detach() for lin in layer])))
        # nn.Sequential's keys of each stacked parameter: "0.weight", "0.bias", "2.weight", ...
        linear_at = [i for i, m in enumerate(nets[0]) if isinstance(m, nn.Linear)]
        self.keys = [f"{i}.{kind}" for i in linear_at for kind in ("weight", "bias")]
        self.sn_keys = [f"{i}.{vec}" for i in linear_at for vec in ("u", "v")]
        if spectral_norm:  # the same start vectors for every member: a member's own do not depend on S
            for i, W in enumerate(self.weight):
                g = torch.Generator().manual_seed(i)
                u, v = torch.randn(W.shape[1], generator=g), torch.randn(W.shape[2], generator=g)
                self.register_buffer(f"sn_u{i}", F.normalize(u, dim=0).expand(len(nets), -1).clone())
                self.register_buffer(f"sn_v{i}", F.normalize(v, dim=0).expand(len(nets), -1).clone())

    @property
    def members(self) -> int:
        return self.weight[0].shape[0]

    def stacked(self) -> list[nn.Parameter]:
        """The stacked parameters in nn.Sequential.parameters() order (W0, b0, W1, b1, ...)."""
        return [p for pair in zip(self.weight, self.bias) for p in pair]

    def _normalized(self, i: int, update: bool) -> Tensor:
        """Layer i's weights divided by each member's σ (S, out, in); one power iteration if `update`."""
        W, u, v = self.weight[i], getattr(self, f"sn_u{i}"), getattr(self, f"sn_v{i}")
        if update:
            with torch.no_grad():  # v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖ per member, in place (graph-safe)
                v.copy_(F.normalize(torch.einsum("soi,so->si", W, u), dim=1, eps=1e-12))
                u.copy_(F.normalize(torch.einsum("soi,si->so", W, v), dim=1, eps=1e-12))
        # σ = uᵀWv, differentiable in W with u, v fixed; clones, because a later forward pass updates
        # u, v in place while this pass's graph still needs them (as torch's spectral_norm does)
        sigma = torch.einsum("so,soi,si->s", u.clone(), W, v.clone())
        return W / sigma.view(-1, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.weight) - 1
        for i, (W, b) in enumerate(zip(self.weight, self.bias)):
            if self.spectral_norm:
                W = self._normalized(i, update=self.training)
            x = stacked_linear(x, W, b)
            if i < last:
                x = torch.relu(x)
        return x

    def member(self, s: int) -> Callable[[Tensor], Tensor]:
        """Member s alone as a function of (n, in) inputs (for measurements and pictures)."""
        def net(x: Tensor) -> Tensor:
            last = len(self.weight) - 1
            for i, (W, b) in enumerate(zip(self.weight, self.bias)):
                if self.spectral_norm:
                    W = self._normalized(i, update=False)
                x = F.linear(x, W[s], b[s])
                if i < last:
                    x = torch.relu(x)
            return x

        return net

    def grad_norms(self) -> Tensor:
        """Each member's L2 norm of all its parameter gradients (S,), as metrics.stability.grad_norm."""
        per_param = [torch.linalg.vector_norm(p.grad.flatten(1), dim=1) for p in self.stacked()]
        return torch.linalg.vector_norm(torch.stack(per_param, 1), dim=1)

    def member_state_dict(self, s: int) -> dict[str, Tensor]:
        """Member s's weights as its own nn.Sequential's state_dict (copies, not views)."""
        return {k: p.detach()[s].clone() for k, p in zip(self.keys, self.stacked())}

    @torch.no_grad()
    def load_member_state_dict(self, s: int, state: dict[str, Tensor]) -> None:
        """Set member s's weights from an nn.Sequential state_dict of the same shape."""
        if set(state) != set(self.keys):
            raise KeyError(f"member weights have keys {sorted(state)}; expected {self.keys}")
        for k, p in zip(self.keys, self.stacked()):
            if tuple(state[k].shape) != tuple(p.shape[1:]):
                raise ValueError(f"{k}: shape {tuple(state[k].shape)}, expected {tuple(p.shape[1:])}")
            p[s].copy_(state[k])

    def _sn_vectors(self) -> list[Tensor]:
        return [getattr(self, f"sn_{vec}{i}") for i in range(len(self.weight)) for vec in ("u", "v")]

    def member_sn_state(self, s: int) -> dict[str, Tensor]:
        """Member s's spectral-norm power-iteration vectors (u, v per layer), for exact resume."""
        return {k: t[s].clone() for k, t in zip(self.sn_keys, self._sn_vectors())}

    @torch.no_grad()
    def load_member_sn_state(self, s: int, state: dict[str, Tensor]) -> None:
        if set(state) != set(self.sn_keys):
            raise KeyError(f"spectral-norm state has keys {sorted(state)}; expected {self.sn_keys}")
        for k, t in zip(self.sn_keys, self._sn_vectors()):
            t[s].copy_(state[k])
