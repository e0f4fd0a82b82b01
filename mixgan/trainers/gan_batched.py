"""S toy-GAN seeds trained at once: stacked MLP weights, one batched matmul per layer (issue 7).

Each seed is a real GanTrainer (same init, generator, measurements, pictures and checkpoint format)
whose parameters and metric window are views into stacked tensors, so one batched step trains every
seed. Random numbers come from each seed's own generator in the order GanTrainer.train_step draws
them, and each seed's loss uses the same ops on its own slice, so on the CPU each seed's numbers are
bit for bit those of a separate run (tests/test_batched.py).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.config import to_dict
from mixgan.fast import fast_iteration
from mixgan.metrics.stability import grad_norm
from mixgan.mixup import partner_index, sample_lambda
from mixgan.objectives.gan import ErmGan, MixupGan
from mixgan.trainers.gan import WINDOW_KEYS, GanTrainer, make_adam

THIN = 16  # on the CPU, layers with a side below this run per seed (see _linear)


def _linear(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """x (S, N, in) @ W (S, out, in)ᵀ + b (S, out) → (S, N, out).

    Wide layers are one baddbmm: on the CPU, bmm runs each seed through the same GEMM as F.linear, to
    the bit (checked by the tests at every width they use). Thin layers (D's output, G's latent input)
    run per seed on the CPU: for them bmm picks another GEMM path and the last bit differs (D's
    logits; G's first-layer weight gradient for latent 5 or 10). They cost almost nothing.
    """
    if x.device.type == "cpu" and min(W.shape[1], W.shape[2]) < THIN:
        return torch.stack([F.linear(*args) for args in zip(x.unbind(0), W.unbind(0), b.unbind(0))])
    return torch.baddbmm(b.unsqueeze(1), x, W.transpose(1, 2))


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

    def share_grads(self) -> None:
        """Point each seed's parameter .grad at its slice of the stacked gradient (no copy)."""
        for stacked, own in self.links:
            for p, g in zip(own, stacked.grad.unbind(0)):
                p.grad = g


def shared_adam(trainers: list[GanTrainer], net: str) -> torch.optim.Adam:
    """One fused Adam over every seed's own parameters (views of the stacked ones).

    Its per-parameter state dicts are the seeds' own optimizers' dicts (one dict, two owners), so a
    seed's checkpoint holds every update. Fused Adam is elementwise and treats each tensor alone, so
    each seed's update is the one its separate run makes.
    """
    cfg = trainers[0].cfg
    params = [p for t in trainers for p in getattr(t, net).parameters()]
    opt = make_adam(params, cfg.train, trainers[0].device)
    for t in trainers:
        own = getattr(t, f"opt_{net}")
        for p in getattr(t, net).parameters():
            opt.state[p] = own.state[p]
    return opt


def batchable_objective(objective: Any) -> bool:
    """The objectives whose maths `BatchedGanTrainer` mirrors."""
    return type(objective) in (ErmGan, MixupGan)


class BatchedGanTrainer:
    """The seeds' GanTrainers (`seeds`) stepped together; each still measures and saves itself."""

    def __init__(self, cfgs: list[Any], device: torch.device) -> None:
        base = _without_seed(cfgs[0])
        for cfg in cfgs[1:]:
            if _without_seed(cfg) != base:
                raise ValueError("batched seeds must share the config except seed and run")
        self.cfg, self.device = cfgs[0], device
        self.seeds: list[GanTrainer] = []
        self.cpu_rng: list[Tensor] = []  # the global RNG after each seed's init, as its own run saves it
        for cfg in cfgs:
            self.seeds.append(GanTrainer(cfg, device))
            self.cpu_rng.append(torch.get_rng_state())
        self.objective = self.seeds[0].objective
        if not batchable_objective(self.objective):
            raise ValueError(f"objective {type(self.objective).__name__} has no batched form")
        self.step, self.total = 0, self.cfg.train.iterations
        self._stack()

    def load_seed_states(self, states: list[dict[str, Any]], step: int) -> None:
        """Resume: each seed loads its own GanTrainer checkpoint state, then the stacks are rebuilt."""
        for t, state in zip(self.seeds, states):
            t.load_state_dict(state)
            t.step = step
        self.step = step
        self._stack()

    def _stack(self) -> None:
        ts = self.seeds
        self.G, self.D = StackedMLP([t.G for t in ts]), StackedMLP([t.D for t in ts])
        self.opt_G, self.opt_D = shared_adam(ts, "G"), shared_adam(ts, "D")
        self.window = torch.stack([t.window for t in ts])
        for s, t in enumerate(ts):
            t.window = self.window[s]  # GanTrainer resets and loads its window in place
        self._fast = fast_iteration(self._iteration, self.device, [t.gen for t in ts])

    # -- the hot path -------------------------------------------------------------------------
    def _draw(self, n: int, d_step: bool) -> tuple[Tensor, Tensor, list[tuple[Tensor, ...]]]:
        """Per seed, from its own generator and in GanTrainer's order: real points, noise, and what
        the objective draws next (λ; for the demo pairing two permutations first)."""
        obj, reals, zs, extras = self.objective, [], [], []
        for t in self.seeds:
            reals.append(t.data.sample(n, t.gen))
            zs.append(t._noise(n))
            extra: tuple[Tensor, ...] = ()
            if isinstance(obj, MixupGan):
                if obj.pairs == "any" and d_step:
                    extra = (partner_index(n, t.gen), partner_index(n, t.gen))
                if (obj.pairs == "any" and d_step) or (
                        obj.pairs == "real_fake" and (d_step or obj.g_loss_name == "saturating")):
                    extra += (sample_lambda(n, obj.alpha, obj.lam, obj.per_sample, t.gen),)
            extras.append(extra)
        return torch.stack(reals), torch.stack(zs), extras

    def _d_losses(self, real: Tensor, fake: Tensor, extras: list[tuple[Tensor, ...]]) -> Tensor:
        """Each seed's D loss (S,), written as objectives/gan.py writes it, on the seed's slice."""
        S, n = real.shape[0], real.shape[1]
        if isinstance(self.objective, ErmGan):
            # softplus(−d(x)) + softplus(d(g(z))), one D pass over real and fake
            logits = self.D(torch.cat([real, fake], 1))
            return torch.stack([F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
                                for d_real, d_fake in (lo.split([n, n]) for lo in logits)])
        if self.objective.pairs == "real_fake":
            lam = torch.stack([e[0] for e in extras])
            logits = self.D(_mix(real, fake, lam))  # BCE(d(λx + (1−λ)g(z)), λ)   (§3.7)
            return torch.stack([F.binary_cross_entropy_with_logits(lo.reshape(-1), e[0])
                                for lo, e in zip(logits, extras)])
        # The demo pairing: two shuffled real+fake batches (labels 1/0), mixed pairwise.
        h = n // 2
        y = torch.cat([real.new_ones(h), real.new_zeros(h)])
        idx1, idx2, lam = (torch.stack(parts) for parts in zip(*extras))
        halves = [torch.cat([real[:, a:b], fake[:, a:b]], 1) for a, b in ((0, h), (h, n))]
        x1 = halves[0].gather(1, idx1.unsqueeze(-1).expand(S, n, real.shape[2]))
        x2 = halves[1].gather(1, idx2.unsqueeze(-1).expand(S, n, real.shape[2]))
        logits = self.D(_mix(x1, x2, lam))
        y_mix = lam * y[idx1] + (1 - lam) * y[idx2]  # ỹ = λ·y1 + (1−λ)·y2
        return torch.stack([F.binary_cross_entropy_with_logits(lo.reshape(-1), ys)
                            for lo, ys in zip(logits, y_mix)])

    def _g_losses(self, real: Tensor, fake: Tensor, extras: list[tuple[Tensor, ...]]) -> Tensor:
        """Each seed's G loss (S,), as objectives/gan.py writes it."""
        if extras[0]:  # mixup, paper pairing, minimax: G minimizes −BCE(d(λx + (1−λ)g(z)), λ)
            logits = self.D(_mix(real, fake, torch.stack([e[0] for e in extras])))
            return torch.stack([-F.binary_cross_entropy_with_logits(lo.reshape(-1), e[0])
                                for lo, e in zip(logits, extras)])
        d_fake = self.D(fake)
        if self.objective.g_loss_name == "saturating":
            return torch.stack([-F.softplus(d).mean() for d in d_fake])  # log(1 − σ(d(g(z))))
        return torch.stack([F.softplus(-d).mean() for d in d_fake])  # −log σ(d(g(z)))

    def train_step(self) -> dict[str, Tensor]:
        """One iteration of every seed; returns (S,) tensors (no host sync)."""
        B = self.cfg.train.batch_size
        n = B * self.objective.d_batches
        for _ in range(self.cfg.train.d_steps):
            real, z, extras = self._draw(n, d_step=True)
            with torch.no_grad():  # no backprop through G in D steps
                fake = self.G(z)
            loss_d = self._d_losses(real, fake, extras)
            self.D.zero_grad(set_to_none=True)
            loss_d.sum().backward()  # seeds share no weights: ∂(Σ_s ℓ_s)/∂θ_s = ∂ℓ_s/∂θ_s
            self.D.share_grads()
            self.opt_D.step()
        gn_d = torch.stack([grad_norm(t.D) for t in self.seeds])
        real, z, extras = self._draw(B, d_step=False)
        fake = self.G(z)
        self.D.requires_grad_(False)  # G's step needs ∂/∂x through D, not D's weight gradients
        loss_g = self._g_losses(real, fake, extras)
        self.G.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        self.D.requires_grad_(True)
        self.G.share_grads()
        self.opt_G.step()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": gn_d,
                "stability/grad_norm_G": torch.stack([grad_norm(t.G) for t in self.seeds])}

    def _iteration(self) -> None:
        out = self.train_step()
        self.window += torch.stack([out[k] for k in WINDOW_KEYS], 1)

    def advance(self) -> None:
        self._fast()
        self.step += 1
        for t in self.seeds:
            t.window_n += 1
            t.step += 1

    # -- per-seed state -------------------------------------------------------------------------
    def seed_state(self, s: int) -> dict[str, Any]:
        """Seed s's GanTrainer state with its own tensors (not views of the stacks), as its run saves it."""
        state = _owned(self.seeds[s].state_dict())
        state["rng"]["torch_cpu"] = self.cpu_rng[s]
        return state


def _mix(a: Tensor, b: Tensor, lam: Tensor) -> Tensor:
    """mixgan.mixup.mix for (S, N, d) batches with λ (S, N): λ·a + (1−λ)·b, elementwise as there."""
    lam = lam.unsqueeze(-1)
    return lam * a + (1 - lam) * b


def _owned(obj: Any) -> Any:
    """A copy of a state tree whose tensors own their memory (torch.save would write a view's whole base)."""
    if isinstance(obj, Tensor):
        return obj.clone()
    if isinstance(obj, dict):  # keeps the dict's type (state_dict()'s OrderedDict and its _metadata)
        out = copy.copy(obj)
        for k, v in obj.items():
            out[k] = _owned(v)
        return out
    if isinstance(obj, list):
        return [_owned(v) for v in obj]
    return obj


def _without_seed(cfg: Any) -> dict[str, Any]:
    data = to_dict(cfg)
    data.pop("seed", None)
    data.pop("run", None)
    return data
