"""GAN discriminator/generator objectives, written once over a leading member axis: ERM and mixup (§3.7).

A stack of S members (S = 1 is an ordinary run) hands every objective stacked batches: real and fake
points of shape (S, n, ...), a discriminator D that maps (S, n, ...) to logits (S, n, 1), and the
members' random streams (mixgan/streams.py). Each loss returns one value per member, shape (S,); the
loop sums them for one backward pass (members share no weights, so each gets its own gradient).
Per-member settings (α, and any numeric weight listed in `member_keys`) are tensors of shape (S,).

The loop only calls `d_loss` and `g_loss`; it never asks which objective it runs (docs/design.md).
Discriminators return logits; with σ the logistic function,
BCE(l, t) = −t·log σ(l) − (1−t)·log(1−σ(l)), so BCE(l, 1) = softplus(−l), BCE(l, 0) = softplus(l).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mixgan.errors import SettingError
from mixgan.mixup import LAMBDA_LAWS, mix, sample_lambda_members
from mixgan.objectives.plugins import Plugged, build_plugins
from mixgan.objectives.stabilizers import (
    LOSSES,
    MIXUP_LOSSES,
    Stabilized,
    d_base_loss,
    g_base_loss,
    soft_target_loss,
)
from mixgan.streams import MemberStreams

G_LOSSES = ("saturating", "non_saturating")
PAIRS = ("real_fake", "any")
ANNEALS = ("none", "linear", "cosine")
Critic = Callable[[Tensor], Tensor]  # (S, n, ...) -> logits (S, n, 1)


def member_mean(x: Tensor) -> Tensor:
    """Each member's mean over its batch: (S, n, ...) → (S,)."""
    return x.flatten(1).mean(1)


def bce(logits: Tensor, target: Tensor) -> Tensor:
    """Each member's mean BCE(logits, target): logits (S, n, 1), targets (S, n) → (S,)."""
    return member_mean(F.binary_cross_entropy_with_logits(logits.reshape(target.shape), target,
                                                          reduction="none"))


def take(x: Tensor, idx: Tensor) -> Tensor:
    """x[s, idx[s]] for every member: x (S, n, ...), idx (S, m) → (S, m, ...)."""
    flat = x.flatten(2)
    out = flat.gather(1, idx.unsqueeze(-1).expand(-1, -1, flat.shape[2]))
    return out.view(x.shape[0], idx.shape[1], *x.shape[2:])


def anneal_factor(schedule: str, progress: float) -> float:
    """The share of mixup's strength left at run progress t/T ∈ [0, 1]: none 1, linear 1 − t/T, cosine
    ½(1 + cos πt/T). Annealed to 0, λ ~ U(0, α_t) tends to 0 and the demo's mixed batch to its ERM
    batch: the idea is mixup's coverage early and ERM's sharp D late. Measured on the paper's grid, the
    run then collapses like ERM (docs/best_mixup.md): mixup's regularization is needed to the end."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def g_loss_unmixed(D: Critic, fake: Tensor, g_loss: str, loss: str = "bce") -> Tensor:
    """Generator loss on unmixed fakes (ERM, and mixup's non-saturating / demo forms), (S,)."""
    return g_base_loss(D(fake), loss, g_loss)


def _shared(sections: Sequence[Any], key: str) -> Any:
    """A setting every member of a stack must share (it changes code paths, not numbers)."""
    values = {getattr(sec, key) for sec in sections}
    if len(values) != 1:
        raise ValueError(f"objective.{key} differs inside one stack ({sorted(map(str, values))}); "
                         "members may differ only in their member settings")
    return values.pop()


def _choice(sections: Sequence[Any], key: str, accepted: Sequence[str]) -> Any:
    """A shared setting that names a code path: an unknown name is refused when the objective is built."""
    value = _shared(sections, key)
    if value not in accepted:
        raise SettingError(f"objective.{key}: got {value!r}; accepted: {', '.join(accepted)}")
    return value


def _member_tensor(sections: Sequence[Any], key: str, device: torch.device | str) -> Tensor:
    return torch.tensor([float(getattr(sec, key)) for sec in sections], device=device)


class ErmGan:
    """The standard GAN: d(x) → 1, d(g(z)) → 0 (with `loss` = bce; hinge, least squares, wasserstein
    in objectives/stabilizers.py)."""

    reads = ("loss", "g_loss")  # the objective keys this objective reads (HParams, compare, packing)
    member_keys: tuple[str, ...] = ()  # numeric keys that may differ between members of one stack
    d_batches = 1  # real and fake batches the loop draws per D step

    def __init__(self, sections: Sequence[Any], device: torch.device | str = "cpu") -> None:
        self.g_loss_name = _choice(sections, "g_loss", G_LOSSES)
        self.loss = _choice(sections, "loss", LOSSES)

    def d_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        return self.d_loss_outputs(D, real, fake, rand)[0]

    def d_loss_outputs(self, D: Critic, real: Tensor, fake: Tensor,
                       rand: MemberStreams) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """D's loss and the outputs (D(real), D(fake)) it read, for plugins that reuse them."""
        # BCE(d(x), 1) + BCE(d(g(z)), 0) = softplus(−d(x)) + softplus(d(g(z))) with loss=bce; one
        # forward pass over both halves (a bigger matmul runs faster than two small ones).
        n = real.shape[1]
        d_real, d_fake = D(torch.cat([real, fake], 1)).split([n, fake.shape[1]], dim=1)
        return d_base_loss(d_real, d_fake, self.loss), (d_real, d_fake)

    def g_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        return g_loss_unmixed(D, fake, self.g_loss_name, self.loss)


class MixupGan:
    """The mixup GAN (§3.7): d(λx + (1−λ)g(z)) → λ, i.e. min_d BCE(d(x̃), λ).

    pairs="real_fake" is the paper's formula: every real point is mixed with a fake one.
    pairs="any" is the authors' public demo (hongyi-zhang/mixup `gan/example_gan.py`): two shuffled
    batches of real+fake points (labels 1/0) are mixed pairwise, so pairs are real–real, fake–fake
    or real–fake, and the labels are mixed alike; G then trains on the unmixed batch.
    """

    reads = ("alpha", "lam", "per_sample", "pairs", "loss", "g_loss", "anneal")
    member_keys = ("alpha",)

    def __init__(self, sections: Sequence[Any], device: torch.device | str = "cpu") -> None:
        self.alpha0 = _member_tensor(sections, "alpha", device)  # (S,)
        self.alpha = self.alpha0.clone()  # α of this iteration: annealed in place (a CUDA graph reads it)
        self.anneal = _choice(sections, "anneal", ANNEALS)
        self.loss = _choice(sections, "loss", MIXUP_LOSSES)  # bce (the paper) or least_squares: λ ∈ [0, 1]
        self.lam, self.per_sample = _choice(sections, "lam", LAMBDA_LAWS), _shared(sections, "per_sample")
        self.pairs = _choice(sections, "pairs", PAIRS)
        self.g_loss_name = _choice(sections, "g_loss", G_LOSSES)
        self.d_batches = 2 if self.pairs == "any" else 1

    def at_step(self, step: int, total: int) -> None:
        """Before iteration `step` of `total`: the annealed strength α_t = α·anneal_factor(t/T)."""
        if self.anneal != "none":
            self.alpha.copy_(self.alpha0 * anneal_factor(self.anneal, step / max(total, 1)))

    def _lam(self, rand: MemberStreams, n: int) -> Tensor:
        return sample_lambda_members(rand, n, self.alpha, self.lam, self.per_sample)

    @staticmethod
    def _shuffled(real: Tensor, fake: Tensor, rand: MemberStreams) -> tuple[Tensor, Tensor]:
        """One demo batch per member: real (label 1) and fake (label 0) points in a random order."""
        x = torch.cat([real, fake], 1)
        y = torch.cat([real.new_ones(real.shape[:2]), fake.new_zeros(fake.shape[:2])], 1)
        idx = rand.permutation(x.shape[1])
        return take(x, idx), y.gather(1, idx)

    def d_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        if self.pairs == "any":
            h = real.shape[1] // 2
            x1, y1 = self._shuffled(real[:, :h], fake[:, :h], rand)
            x2, y2 = self._shuffled(real[:, h:], fake[:, h:], rand)
            lam = self._lam(rand, x1.shape[1])
            # x̃ = λ·x1 + (1−λ)·x2, ỹ = λ·y1 + (1−λ)·y2; loss BCE(d(x̃), ỹ)
            return soft_target_loss(D(mix(x1, x2, lam)), mix(y1, y2, lam), self.loss)
        lam = self._lam(rand, real.shape[1])
        # x̃ = λ·x + (1−λ)·g(z); loss BCE(d(x̃), λ)   (§3.7)
        return soft_target_loss(D(mix(real, fake, lam)), lam, self.loss)

    def g_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        if self.pairs == "any" or self.g_loss_name == "non_saturating" or self.loss != "bce":
            return g_loss_unmixed(D, fake, self.g_loss_name, self.loss)
        lam = self._lam(rand, real.shape[1])
        # Minimax (§3.7): max_g min_d BCE(d(λx + (1−λ)g(z)), λ), so G minimizes −BCE(d(x̃), λ).
        return -bce(D(mix(real, fake, lam)), lam)


# The registry: objective.name -> class. Validation, the factory, compare's "keys this objective never
# reads", HParams and the stack packer all read it, so an unknown name can never build another objective.
GAN_OBJECTIVES: dict[str, type] = {"erm": ErmGan, "mixup": MixupGan}


def make_gan_objective(sections: Any, device: torch.device | str = "cpu", stabilizers: Any = None,
                       d_steps: int = 1, graph_safe: bool = False) -> Any:
    """The objective named by the members' `objective` sections (one section, or one per member),
    wrapped with the members' `stabilizers` sections when any stabilizer is on (`graph_safe`: the
    same kernels on every D step, for an iteration captured as a CUDA graph; see Stabilized)."""
    sections = list(sections) if isinstance(sections, (list, tuple)) else [sections]
    name = _shared(sections, "name")
    try:
        cls = GAN_OBJECTIVES[name]
    except KeyError:
        raise SettingError(f"unknown GAN objective {name!r}; accepted: {', '.join(GAN_OBJECTIVES)}") from None
    base = cls(sections, device)
    if stabilizers is None:
        return base
    stabilizers = list(stabilizers) if isinstance(stabilizers, (list, tuple)) else [stabilizers]
    plugins = build_plugins(stabilizers, device)  # plugin stabilizers (LeCam, DiffAugment, ...)
    if plugins:
        base = Plugged(base, plugins)
    if not any(Stabilized.enabled(stabilizers[0])) and stabilizers[0].pack == 1:
        return base
    return Stabilized(base, stabilizers, d_steps, device, graph_safe)


def single_member(D: Callable[[Tensor], Tensor]) -> Critic:
    """A one-member critic from a plain network: (1, n, ...) → D((n, ...)) → (1, n, 1) (image GAN).

    A D with `features(x)` and `head(h)` (D = head ∘ features: DCGAN's D, mixgan.SplitD) keeps them,
    over the member axis too: (1, n, ...) → (1, n, ...features) → (1, n, 1)."""
    def critic(x: Tensor) -> Tensor:
        return D(x.flatten(0, 1)).view(x.shape[0], x.shape[1], -1)

    features, head = getattr(D, "features", None), getattr(D, "head", None)
    if callable(features) and callable(head):
        critic.features = lambda x: features(x.flatten(0, 1)).unflatten(0, x.shape[:2])  # type: ignore[attr-defined]
        critic.head = lambda h: head(h.flatten(0, 1)).reshape(h.shape[0], h.shape[1], -1)  # type: ignore[attr-defined]
    return critic
