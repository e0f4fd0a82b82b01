"""Toy model families for 2-D GANs as plain single networks, and their registry.

A family builds one member's network as an `nn.Sequential` of Linear (with or without bias),
ToyBatchNorm, an activation and Maxout; models/stacked_net.py stacks S of them over a member axis, and a
member's checkpoint is its plain network's state_dict. Families:

- `mlp`: [Linear, act] × depth, Linear (paper Fig. 5 with ReLU; PyTorch's default initialization).
- `bn_mlp`: [Linear (bias optional), BatchNorm, act] × depth, Linear (PacGAN's G: 4 × 400, no hidden
  bias; Lin et al. 2018, public code fjxmlzn/PacGAN `synthetic_data_experiments`).
- `maxout`: [Linear(in, hidden·pieces), max over pieces] × depth, Linear (PacGAN's D: 3 × 200 × 5).

Other packages add families through the entry-point group "mixgan.toy_models" (a ToyFamily).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mixgan._registry import Registry

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}


class ToyBatchNorm(nn.Module):
    """Batch normalization as Blocks computes it (PacGAN's G): in training, x̂ = (x − μ_B)/√(σ²_B + ε)
    with the biased batch variance, y = γx̂ + β; the population statistics are running averages of μ_B
    and of the batch's √(σ²_B + ε) (its "stdev"), p ← (1 − m)·p + m·batch with m = 0.05, and sampling
    uses y = γ(x − μ_pop)/stdev_pop + β. (PyTorch's BatchNorm1d keeps the unbiased variance instead.)

    `groups` g > 1: rows j, j + g, j + 2g, … are normalized as one batch (PacGAN-m runs G once per pack
    slot, each a batch of its own), and the population update averages the g batches' statistics.
    """

    def __init__(self, features: int, momentum: float = 0.05, eps: float = 1e-4) -> None:
        super().__init__()
        self.momentum, self.eps, self.groups = momentum, eps, 1
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_std", torch.ones(features))

    def forward(self, x: Tensor) -> Tensor:
        return batch_norm(x.unsqueeze(0), self.weight[None], self.bias[None], self.running_mean[None],
                          self.running_std[None], self.training, self.momentum, self.eps, self.groups)[0]


def batch_norm(x: Tensor, weight: Tensor, bias: Tensor, running_mean: Tensor, running_std: Tensor,
               training: bool, momentum: float, eps: float, groups: int = 1) -> Tensor:
    """ToyBatchNorm over a member axis: x (S, n, C), parameters and statistics (S, C); the statistics
    are updated in place when training. Each member's sums run over its own rows only."""
    S, n, C = x.shape
    if not training:
        return (x - running_mean.unsqueeze(1)) / running_std.unsqueeze(1) * weight.unsqueeze(1) \
            + bias.unsqueeze(1)
    xg = x.view(S, n // groups, groups, C)  # row i·g + j is slot j's i-th row
    mean = xg.mean(1, keepdim=True)
    centered = xg - mean
    std = (centered.square().mean(1, keepdim=True) + eps).sqrt()  # √(biased variance + ε)
    with torch.no_grad():  # population ← (1 − m)·population + m·(mean of the slots' batch statistics)
        running_mean.mul_(1 - momentum).add_(mean.mean((1, 2)), alpha=momentum)
        running_std.mul_(1 - momentum).add_(std.mean((1, 2)), alpha=momentum)
    y = centered / std
    return y.view(S, n, C) * weight.unsqueeze(1) + bias.unsqueeze(1)


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): unit u of H is the max of units u, H + u, …, (pieces − 1)·H + u
    of the layer before. (Blocks' LinearMaxout, PacGAN's, groups consecutive units instead: the same
    network up to an order of the rows of W, which are drawn i.i.d.; this order reduces over a strided
    axis, which runs about twice as fast on the CPU, backward included.)"""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return maxout(x, self.pieces)


def maxout(x: Tensor, pieces: int) -> Tensor:
    """(…, pieces·H) → (…, H): the max over the `pieces` blocks of H units. `max` with its index, not
    amax: its backward scatters the gradient to the winning piece, where amax's builds a float mask of
    ties (measured: a third of the maxout D's backward time)."""
    return x.unflatten(-1, (pieces, -1)).max(-2).values


def init_normal(net: nn.Module, std: float) -> nn.Module:
    """Every Linear weight ~ N(0, std²), biases 0 (PacGAN's IsotropicGaussian(0.02), Constant(0));
    batch-norm scales stay 1 and shifts 0."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def mlp(n_in: int, n_out: int, hidden: int, depth: int, activation: str = "relu",
        bias: bool = True, pieces: int = 5) -> nn.Sequential:
    """[Linear, act] × depth, Linear (paper Fig. 5)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden, bias=bias), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(hidden if depth else n_in, n_out))


def bn_mlp(n_in: int, n_out: int, hidden: int, depth: int, activation: str = "relu",
           bias: bool = True, pieces: int = 5) -> nn.Sequential:
    """[Linear, BatchNorm, act] × depth, Linear with bias (PacGAN's G, with bias=False)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden, bias=bias), ToyBatchNorm(hidden),
                   ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(hidden if depth else n_in, n_out))


def maxout_mlp(n_in: int, n_out: int, hidden: int, depth: int, activation: str = "relu",
               bias: bool = True, pieces: int = 5) -> nn.Sequential:
    """[Linear(·, hidden·pieces), Maxout(pieces)] × depth, Linear (PacGAN's D; no other activation)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden * pieces, bias=bias), Maxout(pieces)]
    return nn.Sequential(*layers, nn.Linear(hidden if depth else n_in, n_out))


@dataclass(frozen=True)
class ToyFamily:
    """A toy model family: `build(n_in, n_out, hidden, depth, activation=, bias=, pieces=)` -> one
    member's nn.Sequential of the layers models/stacked_net.py stacks, and the model keys it reads."""

    build: Callable[..., nn.Sequential]
    reads: tuple[str, ...]

    def __call__(self, *args: Any, **kwargs: Any) -> nn.Sequential:
        return self.build(*args, **kwargs)


TOY_MODELS = Registry("toy model family", "mixgan.toy_models")
TOY_MODELS.register("mlp", ToyFamily(mlp, ("activation", "hidden_bias")))
TOY_MODELS.register("bn_mlp", ToyFamily(bn_mlp, ("activation", "hidden_bias")))
TOY_MODELS.register("maxout", ToyFamily(maxout_mlp, ("maxout_pieces", "hidden_bias")))
TOY_MODELS.seal()


def build_toy_net(family: str, n_in: int, n_out: int, hidden: int, depth: int, *, activation: str = "relu",
                  bias: bool = True, pieces: int = 5, init: str = "default", init_std: float = 0.02
                  ) -> nn.Sequential:
    """One member's network of a registered family, initialized (`default`: PyTorch's; `normal`)."""
    net = TOY_MODELS[family](n_in, n_out, hidden, depth, activation=activation, bias=bias, pieces=pieces)
    return init_normal(net, init_std) if init == "normal" else net
