"""MLPs for toy GANs: [in, hidden × depth, out] with ReLU (paper Fig. 5: 3 × 512)."""

from __future__ import annotations

from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: int = 512, depth: int = 3) -> nn.Sequential:
    """Linear–ReLU × depth, then a linear output (no output activation: D returns logits)."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)
