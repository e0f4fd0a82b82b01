"""Random numbers for a stack of S members: one seeded `torch.Generator` per member, on the device.

Every draw returns a tensor with a leading member axis (S, ...), member s's slice drawn from member
s's own generator, so a member's numbers depend on its own seed alone: the same member draws the same
numbers alone (S = 1) or in any stack (docs/design.md, "Randomness"). Draws write into one stacked
buffer (`out=`), so a stack costs S small RNG calls per draw and no copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class MemberStreams:
    """S generators (one per member) and draws of shape (S, *shape) from them."""

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        if not generators:
            raise ValueError("MemberStreams needs at least one generator")
        self.generators = list(generators)
        self.device = self.generators[0].device

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], device: torch.device | str) -> MemberStreams:
        return cls([torch.Generator(device).manual_seed(int(s)) for s in seeds])

    def __len__(self) -> int:
        return len(self.generators)

    def uniform(self, *shape: int) -> Tensor:
        """U[0, 1) of shape (S, *shape)."""
        out = torch.empty(len(self), *shape, device=self.device)
        for s, g in enumerate(self.generators):
            torch.rand(shape, generator=g, out=out[s])
        return out

    def normal(self, *shape: int) -> Tensor:
        """N(0, 1) of shape (S, *shape)."""
        out = torch.empty(len(self), *shape, device=self.device)
        for s, g in enumerate(self.generators):
            torch.randn(shape, generator=g, out=out[s])
        return out

    def randint(self, high: int, *shape: int) -> Tensor:
        """Integers uniform in [0, high) of shape (S, *shape)."""
        out = torch.empty(len(self), *shape, dtype=torch.long, device=self.device)
        for s, g in enumerate(self.generators):
            torch.randint(high, shape, generator=g, out=out[s])
        return out

    def permutation(self, n: int) -> Tensor:
        """A random permutation of range(n) per member, shape (S, n)."""
        out = torch.empty(len(self), n, dtype=torch.long, device=self.device)
        for s, g in enumerate(self.generators):
            torch.randperm(n, generator=g, out=out[s])
        return out

    def gamma(self, concentration: Tensor) -> Tensor:
        """Gamma(concentration, 1) draws for a (S, ...) concentration tensor (member s's from its own)."""
        return torch.stack([torch._standard_gamma(c, generator=g)
                            for c, g in zip(concentration, self.generators)])

    def get_state(self, s: int) -> Tensor:
        return self.generators[s].get_state()

    def set_state(self, s: int, state: Tensor) -> None:
        self.generators[s].set_state(state)
