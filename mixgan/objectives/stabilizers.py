"""GAN stabilizers, written once over the member axis: base losses, gradient penalties (R1, R2,
WGAN-GP, DRAGAN), instance noise, PacGAN packing and, for images, balanced consistency regularization
(bCR), composed with ERM or mixup (objectives/gan.py).

`Stabilized(base, ...)` wraps an objective: D sees noisy (and packed) inputs, the base objective's D
loss gets the penalties added. Penalty weights and the noise std are member settings (shape (S,)),
so a sweep over them packs into one stack; whether a penalty is on at all is shared (it changes which
random numbers are drawn, and a member must draw exactly what it would draw alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mixgan.errors import SettingError
from mixgan.objectives.augment import augment
from mixgan.streams import MemberStreams

Critic = Callable[[Tensor], Tensor]  # (S, n, ...) -> outputs (S, n, 1)
LOSSES = ("bce", "hinge", "least_squares", "wasserstein")
MIXUP_LOSSES = ("bce", "least_squares")  # losses with a target in [0, 1]: mixup's λ
PENALTIES = ("r1", "r2", "gp", "dragan")
# Penalty weights and the noise std: numeric member settings (dotted keys under stabilizers.)
MEMBER_KEYS = (*(f"{p}.weight" for p in PENALTIES), "noise.std")


def _unknown(what: str, name: object, accepted: tuple[str, ...], why: str = "") -> SettingError:
    """An unknown name is an error, never another formula (a fall-through once computed WGAN for "BCE")."""
    return SettingError(f"unknown {what} {name!r}; accepted: {', '.join(accepted)}{why}")


def _mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(1)


def d_base_loss(d_real: Tensor, d_fake: Tensor, loss: str) -> Tensor:
    """D's loss on unmixed real and fake outputs (S, n, 1) → (S,)."""
    if loss == "bce":  # BCE(d(x), 1) + BCE(d(g(z)), 0) = softplus(−d(x)) + softplus(d(g(z)))
        return _mean(F.softplus(-d_real)) + _mean(F.softplus(d_fake))
    if loss == "hinge":  # E relu(1 − d(x)) + E relu(1 + d(g(z)))  (Lim & Ye 2017; Miyato et al. 2018)
        return _mean(F.relu(1 - d_real)) + _mean(F.relu(1 + d_fake))
    if loss == "least_squares":  # ½E(d(x) − 1)² + ½E d(g(z))²  (LSGAN, Mao et al. 2017, a=0 b=c=1)
        return 0.5 * _mean((d_real - 1) ** 2) + 0.5 * _mean(d_fake ** 2)
    if loss == "wasserstein":  # E d(g(z)) − E d(x), the critic's loss (Arjovsky et al. 2017); needs a penalty
        return _mean(d_fake) - _mean(d_real)
    raise _unknown("loss", loss, LOSSES)


def g_base_loss(d_fake: Tensor, loss: str, g_loss: str) -> Tensor:
    """G's loss on D's outputs at generated points (S, n, 1) → (S,)."""
    if loss == "bce":
        if g_loss == "saturating":
            # Minimax: G maximizes D's loss. Its real term BCE(d(x), 1) is constant in G, so
            # −BCE(d(g(z)), 0) = log(1 − σ(d(g(z)))) carries the whole gradient.
            return -_mean(F.softplus(d_fake))
        return _mean(F.softplus(-d_fake))  # non-saturating: −log σ(d(g(z)))  (Goodfellow et al. 2014)
    if loss == "least_squares":
        return 0.5 * _mean((d_fake - 1) ** 2)  # ½E(d(g(z)) − c)², c = 1
    if loss in ("hinge", "wasserstein"):
        return -_mean(d_fake)  # G maximizes E d(g(z))
    raise _unknown("loss", loss, LOSSES)


def soft_target_loss(out: Tensor, target: Tensor, loss: str) -> Tensor:
    """D's loss against soft targets in [0, 1] (mixup's λ): outputs (S, n, 1), targets (S, n) → (S,)."""
    out = out.reshape(target.shape)
    if loss == "least_squares":
        return 0.5 * _mean((out - target) ** 2)
    if loss == "bce":
        return _mean(F.binary_cross_entropy_with_logits(out, target, reduction="none"))
    raise _unknown("loss", loss, MIXUP_LOSSES, " (a soft target λ needs a loss against a target)")


def input_grad_norm2(D: Critic, x: Tensor) -> Tensor:
    """‖∇ₓD(x)‖² per D input (S, n), kept in the graph (create_graph) so that the penalty trains D."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)  # members share nothing: one call
    return grad.flatten(2).pow(2).sum(-1)


def _uniform_like(rand: MemberStreams, x: Tensor, per: str) -> Tensor:
    """U(0, 1) per point (S, n, 1, ...) or per element, broadcastable against x."""
    if per == "point":
        return rand.uniform(x.shape[1]).view(*x.shape[:2], *([1] * (x.dim() - 2)))
    return rand.uniform(math.prod(x.shape[1:])).view(x.shape)


def penalty(name: str, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams,
            c: float = 0.5) -> Tensor:
    """The unweighted penalty of each member (S,) at D's inputs (packed ones, with PacGAN)."""
    if name == "r1":  # ½E‖∇D(x)‖² at real points (Mescheder et al. 2018, Eq. 9): zero-centred
        return 0.5 * _mean(input_grad_norm2(D, real))
    if name == "r2":  # ½E‖∇D(g(z))‖² at generated points
        return 0.5 * _mean(input_grad_norm2(D, fake))
    if name == "gp":  # E(‖∇D(x̂)‖ − 1)², x̂ = εx + (1 − ε)g(z), ε ~ U(0, 1) (Gulrajani et al. 2017, Alg. 1)
        eps = _uniform_like(rand, real, "point")
        point = eps * real + (1 - eps) * fake
    elif name != "dragan":
        raise _unknown("penalty", name, PENALTIES)
    else:  # dragan: x̂ = x + α·δ, δ = c·std(x)·u, u ~ U(0, 1) per element, α ~ U(0, 1) (Kodali et al. 2017)
        # std(x): one number per member over all N elements of its batch, the unbiased std (÷ (N − 1))
        # as in StudioGAN's port (torch's x.std()); the authors' code divides by N (numpy's
        # minibatch.std()), so mixgan's is √(N/(N − 1)) larger: 1.002 at 128 points × 2 dims.
        std = real.flatten(1).std(1, correction=1).view(-1, *([1] * (real.dim() - 1)))
        delta = c * std * _uniform_like(rand, real, "element")
        point = real + _uniform_like(rand, real, "point") * delta
    # sqrt(·+ε): ‖∇‖ is not differentiable at 0, where a fresh D may start
    return _mean((input_grad_norm2(D, point) + 1e-12).sqrt().sub(1).pow(2))


def consistency(D: Critic, x: Tensor, rand: MemberStreams, p: int) -> Tensor:
    """bCR's unweighted term E‖D(x) − D(T(x))‖² of each member (S,), T a random flip and shift of up
    to p pixels (objectives/augment.py). Both outputs keep their gradients (Zhao et al. 2021, Alg. 1)."""
    n = x.shape[1]
    d, d_aug = D(torch.cat([x, augment(x, rand, p)], 1)).split(n, dim=1)  # one forward, shared BN stats
    return (d - d_aug).flatten(2).pow(2).sum(-1).mean(1)


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN-m (Lin et al. 2018): m consecutive points of one batch (one source: real or generated)
    concatenated into one D input, (S, n, d) → (S, n/m, m·d). The objective then treats packs as
    samples (mixup mixes packs, and labels them by their source)."""
    return x if m == 1 else x.reshape(x.shape[0], x.shape[1] // m, m * x[0, 0].numel())


def noise_std(std: float, schedule: str, progress: float) -> float:
    """The instance-noise std at run progress t/T ∈ [0, 1] (Sønderby et al. 2017: anneal to 0)."""
    if schedule == "linear":
        return std * max(0.0, 1.0 - progress)
    if schedule == "exponential":
        return std * math.exp(-5.0 * progress)
    return std


class Stabilized:
    """An objective (ErmGan, MixupGan) with instance noise, packing, gradient penalties and bCR on D.

    `graph_safe`: the same kernels on every D step (lazy penalties computed and multiplied by 0 or 1),
    for an iteration captured as a CUDA graph (trainers/cuda_graph.py); else off steps skip them.
    """

    def __init__(self, base: Any, sections: Sequence[Any], d_steps: int,
                 device: torch.device | str = "cpu", graph_safe: bool = False) -> None:
        self.base, self.d_steps, self.graph_safe = base, d_steps, graph_safe
        self.d_batches = base.d_batches
        first = sections[0]
        self.pack = first.pack
        self.c = first.dragan.c
        self.schedule = first.noise.schedule
        # Lazy regularization (Karras et al. 2020, StyleGAN2-ADA `training/loss.py`): D minibatches
        # are counted over the whole run, i = t·d_steps + k (iteration t, D step k), and a penalty of
        # interval `every` runs on the D steps i ≡ 0 (mod every) with weight × every, so that its
        # weight per D step, averaged over the run, is the configured one. (name, weight × every,
        # every, on): `on` is (d_steps,), 1 or 0 per D step of the coming iteration (graph_safe).
        self.penalties: list[tuple[str, Tensor, int, Tensor]] = []
        for name in PENALTIES:
            if getattr(first, name).weight > 0:
                every = getattr(first, name).every
                weight = torch.tensor([getattr(s, name).weight for s in sections], device=device)
                on = torch.zeros(d_steps, device=device)
                self.penalties.append((name, weight * every, every, on))
        self._ks = torch.arange(d_steps, device=device)  # the D steps k of one iteration
        self._index = 0  # i of the next D step: set by at_step, else counted from 0 over d_loss calls
        self._set_on(0)
        self.noise0 = torch.tensor([s.noise.std for s in sections], device=device)
        self.noise = self.noise0.clone()  # updated in place (a captured CUDA graph reads it)
        self.use_noise = bool(first.noise.std > 0)
        # bCR's λ_real and λ_fake (member settings; a source is augmented when its weight is on)
        self.bcr = [(i, torch.tensor([getattr(s.bcr, key) for s in sections], device=device))
                    for i, key in enumerate(("real", "fake")) if getattr(first.bcr, key) > 0]
        self.shift = first.bcr.shift
        # The last value of each active term before its weight, (S,) per member, written in place (a
        # CUDA graph keeps the tensors) and never read by the loss: what `metrics` reports.
        self.values = {f"stability/{name}": torch.zeros(len(sections), device=device)
                       for name, *_ in self.penalties}
        self.values.update({f"stability/bcr_{('real', 'fake')[i]}": torch.zeros(len(sections), device=device)
                            for i, _ in self.bcr})

    @staticmethod
    def enabled(st: Any) -> tuple:
        """What changes code paths (shared by a stack): which penalties are on, noise on, bCR on real
        and on generated images (packing is read separately)."""
        return (*(getattr(st, p).weight > 0 for p in PENALTIES), st.noise.std > 0, st.bcr.real > 0,
                st.bcr.fake > 0)

    def _set_on(self, index: int) -> None:
        """`on[k]` = 1 where D step index + k of the coming iteration is ≡ 0 (mod every), else 0: in
        place, computed on the device (a Python int in, no host sync)."""
        if self.graph_safe:
            for _, _, every, on in self.penalties:
                on.copy_((self._ks + index) % every == 0)

    def at_step(self, step: int, total: int) -> None:
        """Before iteration `step` of `total` (the trainers call it before every iteration, so the lazy
        count is a function of the step and survives resume with no state of its own): the run's
        index of this iteration's first D step, step·d_steps, and the penalties' on/off factors;
        anneal the instance noise (an in-place write, no host sync), and whatever the base objective
        anneals (mixup's α)."""
        self._index = step * self.d_steps
        self._set_on(self._index)
        if self.use_noise:
            self.noise.copy_(self.noise0 * noise_std(1.0, self.schedule, step / max(total, 1)))
        if hasattr(self.base, "at_step"):
            self.base.at_step(step, total)

    def _noisy(self, x: Tensor, rand: MemberStreams) -> Tensor:
        if not self.use_noise:
            return x
        eps = rand.normal(x.shape[1], *x.shape[2:])
        return x + self.noise.view(-1, *([1] * (x.dim() - 1))) * eps

    def _inputs(self, x: Tensor, rand: MemberStreams) -> Tensor:
        """What D sees of a batch: noisy points, packed."""
        return pack(self._noisy(x, rand), self.pack)

    def d_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        real, fake = self._inputs(real, rand), self._inputs(fake, rand)
        loss = self.base.d_loss(D, real, fake, rand)
        i, self._index = self._index, self._index + 1  # this D step's index over the run
        for name, weight, every, on in self.penalties:
            if self.graph_safe:
                # A captured CUDA graph freezes Python branches: the penalty is computed on every D
                # step and multiplied by on[k] ∈ {0, 1}, which at_step rewrites in place; on steps, ×1
                # leaves weight × every bit for bit what the eager branch below uses.
                factor = weight * on[i % self.d_steps]
                value = penalty(name, D, real, fake, rand, self.c)
                loss = loss + factor * value
            elif i % every == 0:  # eager: off steps skip the penalty's double backward altogether
                value = penalty(name, D, real, fake, rand, self.c)
                loss = loss + weight * value
            else:
                continue
            self.values[f"stability/{name}"].copy_(value.detach())
        # bCR (Zhao et al. 2021, "Improved Consistency Regularization for GANs", Algorithm 1):
        # + λ_real·E‖D(x) − D(T(x))‖² + λ_fake·E‖D(g(z)) − D(T(g(z)))‖², T a random flip and shift, on
        # the unmixed batches D sees (after instance noise), whatever the base objective (ERM or mixup).
        p = int(self.shift * min(real.shape[-2:])) if self.bcr else 0  # e.g. 1/8 of 32 px: 4 px
        for i, weight in self.bcr:
            value = consistency(D, (real, fake)[i], rand, p)
            self.values[f"stability/bcr_{('real', 'fake')[i]}"].copy_(value.detach())
            loss = loss + weight * value
        return loss

    def metrics(self) -> dict[str, Tensor]:
        """The active terms' last values before their weights (stability/r1: ½E‖∇D(x)‖², ...; bcr_real,
        bcr_fake) and the instance noise's current std (stability/noise_std), each (S,)."""
        return {**self.values, **({"stability/noise_std": self.noise} if self.use_noise else {})}

    def g_loss(self, D: Critic, real: Tensor, fake: Tensor, rand: MemberStreams) -> Tensor:
        return self.base.g_loss(D, self._inputs(real, rand), self._inputs(fake, rand), rand)


def penalty_metrics(objective: Any) -> dict[str, Tensor]:
    """The `metrics` of the Stabilized inside an objective (plugins may wrap it), or {}."""
    while objective is not None:
        if isinstance(objective, Stabilized):
            return objective.metrics()
        objective = getattr(objective, "base", None)
    return {}
