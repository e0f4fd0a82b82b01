"""Where a toy GAN's real batches come from: fresh draws every batch, or a fixed training set of N
examples shuffled every epoch (PacGAN's protocol: 100,000 points, 400 epochs; Lin et al. 2018, public
code fjxmlzn/PacGAN `pacgan/datasets.py` and fuel's ShuffledScheme).

In PacGAN's data set for PacGAN-m an example is a pack of m points: N points are drawn once, and slot j
of example i is point ids_j[i], ids_j drawn with replacement (so every slot is a resample of the N
points). With packs of 1 this is their m = 1 data set; examples of single points (`packs=False`) are
the N points themselves. A member's set comes from a generator seeded by its seed alone, and epoch e's
order from one seeded by (seed, e): the set is rebuilt, not stored, on resume, and a member draws the
same set alone and in a stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mixgan.streams import MemberStreams

_DATA_SALT, _EPOCH_SALT = 7_919, 104_729  # keep these streams apart from training's and measuring's


class FreshDraws:
    """Every batch drawn anew from the mixture, from the members' training streams."""

    def __init__(self, mixture: Any, points_per_example: int) -> None:
        self.mixture, self.m = mixture, points_per_example

    def batch(self, examples: int, rand: MemberStreams, index: int) -> Tensor:
        return self.mixture.sample(examples * self.m, rand)


class TrainingSet:
    """A fixed set of N examples of m points per member, (S, N·m, 2) after gathering, read in batches
    in a per-epoch random order; the last partial batch of an epoch is dropped (N = 100,000 and batch
    100 leave none)."""

    def __init__(self, mixture: Any, size: int, seeds: Sequence[int], points_per_example: int,
                 resample: bool, device: torch.device) -> None:
        self.size, self.m, self.seeds, self.device = size, points_per_example, list(seeds), device
        gens = MemberStreams.from_seeds([s * 1_000_003 + _DATA_SALT for s in self.seeds], device)
        self.points = mixture.sample(size, gens)  # (S, N, 2)
        if resample:  # slot j of example i is point ids[:, i, j], drawn with replacement
            self.ids = gens.randint(size, size, points_per_example)
        else:
            self.ids = torch.arange(size, device=device).view(1, size, 1).expand(len(self.seeds), -1, -1)
        self._epoch, self._order = -1, torch.empty(0)

    def order(self, epoch: int) -> Tensor:
        """The members' example order in `epoch` (S, N), from generators seeded by (seed, epoch)."""
        if epoch != self._epoch:
            self._order = torch.stack([
                torch.randperm(self.size, generator=torch.Generator().manual_seed(
                    (s * 1_000_003 + epoch * 7 + _EPOCH_SALT) % 2**63)) for s in self.seeds]).to(self.device)
            self._epoch = epoch
        return self._order

    def batch(self, examples: int, rand: MemberStreams, index: int) -> Tensor:
        """Batch `index` of the run (counted over epochs): (S, examples·m, 2), a pack's m points
        consecutive."""
        per_epoch = self.size // examples
        epoch, k = divmod(index, per_epoch)
        rows = self.order(epoch)[:, k * examples:(k + 1) * examples]  # (S, B)
        ids = self.ids.gather(1, rows.unsqueeze(-1).expand(-1, -1, self.m))  # (S, B, m)
        flat = ids.reshape(ids.shape[0], -1)
        return self.points.gather(1, flat.unsqueeze(-1).expand(-1, -1, self.points.shape[-1]))


def make_source(mixture: Any, cfgs: Sequence[Any], device: torch.device) -> FreshDraws | TrainingSet:
    """The real-data source of a stack's configs (train.dataset_size, train.batch_of, stabilizers.pack)."""
    tr, pack = cfgs[0].train, cfgs[0].stabilizers.pack
    m = pack if tr.batch_of == "packs" else 1
    if tr.dataset_size == 0:
        return FreshDraws(mixture, m)
    return TrainingSet(mixture, tr.dataset_size, [c.seed for c in cfgs], m, resample=tr.batch_of == "packs",
                       device=device)
