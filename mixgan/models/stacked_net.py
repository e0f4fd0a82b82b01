"""S toy networks of one family (models/toy_layers.py) stacked over a member axis: one batched GEMM per
layer, batch norm and maxout per member.

The general stacked toy model: Linear layers with or without bias, ToyBatchNorm, activations and Maxout,
in any order a family builds. Each member's numbers on the CPU are those of its network alone: the GEMMs
are models/stacked_mlp.stacked_linear (batch-invariant, or member by member), and batch norm's sums run
over each member's own rows. A member's state (parameters and batch-norm statistics) reads and writes
as its plain nn.Sequential's state_dict. (The plain ReLU MLP with spectral norm is StackedMLP.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.models.stacked_mlp import MemberParams, stacked_linear
from mixgan.models.toy_layers import Maxout, ToyBatchNorm, batch_norm, maxout

ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh)


def _signature(net: nn.Sequential) -> list[tuple]:
    return [(type(m).__name__, *(tuple(p.shape) for p in m.parameters())) for m in net]


class StackedNet(MemberParams, nn.Module):
    """S networks of the same layers as stacked parameters (S, ...) and batch-norm statistics (S, C).

    `bn_groups` g: batch norm normalizes rows j, j + g, … as one batch (set by the trainer for
    PacGAN-m's generator, which the protocol runs once per pack slot)."""

    def __init__(self, nets: list[nn.Sequential]) -> None:
        super().__init__()
        first = nets[0]
        if any(_signature(n) != _signature(first) for n in nets[1:]):
            raise ValueError("the members of a stack must have the same layers and shapes")
        self.bn_groups = 1
        self.params = nn.ParameterList()
        self.keys: list[str] = []
        self.buffer_keys: list[str] = []
        # The forward plan: ("linear", W index, b index or None) | ("bn", γ index, β index, buffer
        # suffix, momentum, eps) | ("act", module) | ("maxout", pieces).
        self.plan: list[tuple] = []
        for i, mod in enumerate(first):
            layers = [net[i] for net in nets]
            if isinstance(mod, nn.Linear):
                w = self._add(f"{i}.weight", [m.weight for m in layers])
                b = self._add(f"{i}.bias", [m.bias for m in layers]) if mod.bias is not None else None
                self.plan.append(("linear", w, b))
            elif isinstance(mod, ToyBatchNorm):
                g, b = self._add(f"{i}.weight", [m.weight for m in layers]), self._add(
                    f"{i}.bias", [m.bias for m in layers])
                for name in ("running_mean", "running_std"):
                    self.register_buffer(f"bn{i}_{name}", torch.stack([getattr(m, name) for m in layers]))
                    self.buffer_keys.append(f"{i}.{name}")
                self.plan.append(("bn", g, b, i, mod.momentum, mod.eps))
            elif isinstance(mod, ELEMENTWISE):
                self.plan.append(("act", mod))
            elif isinstance(mod, Maxout):
                self.plan.append(("maxout", mod.pieces))
            else:
                raise ValueError(f"StackedNet cannot stack a {type(mod).__name__}; accepted: Linear, "
                                 "ToyBatchNorm, ReLU, LeakyReLU, Tanh, Maxout")

    def _add(self, key: str, tensors: list[Tensor]) -> int:
        self.params.append(nn.Parameter(torch.stack([t.detach() for t in tensors])))
        self.keys.append(key)
        return len(self.params) - 1

    @property
    def members(self) -> int:
        return self.params[0].shape[0]

    @property
    def spectral_norm(self) -> bool:
        return False

    def stacked(self) -> list[nn.Parameter]:
        """The stacked parameters in the plain network's parameters() order."""
        return list(self.params)

    def _buffers_of(self, i: int) -> tuple[Tensor, Tensor]:
        return getattr(self, f"bn{i}_running_mean"), getattr(self, f"bn{i}_running_std")

    def _state_tensors(self) -> list[Tensor]:
        return [*self.params, *(t for op in self.plan if op[0] == "bn" for t in self._buffers_of(op[3]))]

    def _state_keys(self) -> list[str]:
        return self.keys + self.buffer_keys  # the batch-norm statistics after the parameters

    def _run(self, x: Tensor, linear: Callable[..., Tensor], param: Callable[[int], Tensor],
             norm: Callable[..., Tensor], plan: list[tuple] | None = None) -> Tensor:
        for op in self.plan if plan is None else plan:
            if op[0] == "linear":
                x = linear(x, param(op[1]), None if op[2] is None else param(op[2]))
            elif op[0] == "bn":
                x = norm(x, param(op[1]), param(op[2]), *self._buffers_of(op[3]), op[4], op[5])
            elif op[0] == "act":
                x = op[1](x)
            else:  # maxout over consecutive pieces
                x = maxout(x, op[1])
        return x

    def forward(self, x: Tensor, plan: list[tuple] | None = None) -> Tensor:
        """(S, n, in) → (S, n, out); batch norm on batch statistics in training mode."""
        def norm(h: Tensor, g: Tensor, b: Tensor, mean: Tensor, std: Tensor, m: float, eps: float) -> Tensor:
            return batch_norm(h, g, b, mean, std, self.training, m, eps, self.bn_groups)

        return self._run(x, stacked_linear, lambda k: self.params[k], norm, plan)

    # D = head ∘ features (AdaptiveMix mixes in feature space: objectives/adaptivemix.py)
    def _head_at(self) -> int:
        return max(i for i, op in enumerate(self.plan) if op[0] == "linear")

    def features(self, x: Tensor) -> Tensor:
        """Every layer before the last Linear: (S, n, in) → (S, n, hidden)."""
        return self.forward(x, self.plan[:self._head_at()])

    def head(self, h: Tensor) -> Tensor:
        """The last Linear and what follows it: (S, n, hidden) → (S, n, out)."""
        return self.forward(h, self.plan[self._head_at():])

    def member(self, s: int) -> Callable[[Tensor], Tensor]:
        """Member s alone as a function of (n, in) inputs, batch norm on its population statistics
        (for measurements and pictures: it never updates them)."""
        def linear(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
            return F.linear(x, W, b)

        def norm(h: Tensor, g: Tensor, b: Tensor, mean: Tensor, std: Tensor, m: float, eps: float) -> Tensor:
            return batch_norm(h[None], g[None], b[None], mean[s:s + 1], std[s:s + 1], False, m, eps)[0]

        def net(x: Tensor) -> Tensor:
            return self._run(x, linear, lambda k: self.params[k][s], norm)

        return net


def stack_nets(nets: list[nn.Sequential], spectral_norm: bool = False) -> Any:
    """The stacked form of `nets`: StackedMLP for plain ReLU MLPs (with optional spectral norm), else
    StackedNet (spectral norm is refused there)."""
    from mixgan.models.stacked_mlp import StackedMLP

    kinds = [type(m) for m in nets[0]]
    plain = kinds == [nn.Linear, nn.ReLU] * (len(kinds) // 2) + [nn.Linear] and all(
        m.bias is not None for m in nets[0] if isinstance(m, nn.Linear))
    if plain:
        return StackedMLP(nets, spectral_norm=spectral_norm)
    if spectral_norm:
        raise ValueError("stabilizers.spectral_norm is built for the plain ReLU MLP (model family mlp)")
    return StackedNet(nets)
