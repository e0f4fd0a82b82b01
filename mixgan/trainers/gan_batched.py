"""S toy-GAN seeds trained at once: stacked MLP weights, one batched matmul per layer (issue 7).

Each seed is a real GanTrainer (same init, generator, measurements, pictures and checkpoint format)
whose parameters and metric window are views into stacked tensors, so one batched step trains every
seed. Random numbers come from each seed's own generator in the order GanTrainer.train_step draws
them, and each seed's loss uses the same ops on its own slice, so on the CPU each seed's numbers are
bit for bit those of a separate run (tests/test_batched.py).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mixgan.config import to_dict
from mixgan.fast import fast_iteration
from mixgan.mixup import partner_index
from mixgan.models.stacked_mlp import StackedMLP
from mixgan.objectives.gan import ErmGan, MixupGan
from mixgan.trainers.gan import WINDOW_KEYS, GanTrainer, make_adam, use_matmul_precision


class Draw(NamedTuple):
    """One step's random numbers for all seeds: real points (S, n, 2), noise (S, n, latent), λ (S, n)
    when the objective mixes, and the demo pairing's partner permutations (S, n)."""

    real: Tensor
    z: Tensor
    lam: Tensor | None
    perm1: Tensor | None
    perm2: Tensor | None


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
        # On the CPU each seed's loss runs as its own call (the ops of objectives/gan.py on the seed's
        # slice: bit for bit its separate run). Elsewhere one call reduces all seeds (same maths, a
        # few kernels instead of S times as many; CUDA is within float tolerance anyway).
        self.exact = device.type == "cpu"
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
    def _draw(self, n: int, d_step: bool) -> Draw:
        """Every seed's random numbers for one D (or G) step, each from the seed's own generator in
        GanTrainer's order: data (GaussianMixture.sample: modes, then offsets), noise
        (GanTrainer._noise), then what the objective draws (the demo pairing's two permutations; λ).
        Only the draws run per seed; what follows them runs once for all seeds, with the same ops."""
        obj, S, dev, data = self.objective, len(self.seeds), self.device, self.seeds[0].data
        mode = torch.empty(S, n, dtype=torch.long, device=dev)
        offset = torch.empty(S, n, 2, device=dev)
        z = torch.empty(S, n, self.cfg.model.latent_dim, device=dev)
        mixup = isinstance(obj, MixupGan)
        perms = mixup and obj.pairs == "any" and d_step
        wants_lam = perms or (mixup and obj.pairs == "real_fake"
                              and (d_step or obj.g_loss_name == "saturating"))
        m = n if mixup and obj.per_sample else 1
        conc = torch.full((2, m), float(obj.alpha), device=dev) if mixup else None
        p1, p2, raw = [], [], []
        for s, t in enumerate(self.seeds):
            torch.randint(data.num_modes, (n,), generator=t.gen, out=mode[s])
            torch.randn(n, 2, generator=t.gen, out=offset[s])
            torch.randn(n, z.shape[2], generator=t.gen, out=z[s])
            if perms:
                p1.append(partner_index(n, t.gen))
                p2.append(partner_index(n, t.gen))
            if wants_lam:  # mixup.sample_lambda's draws: Gamma(α) pairs, or U(0, 1)
                raw.append(torch._standard_gamma(conc, generator=t.gen) if obj.lam == "beta"
                           else torch.rand(m, device=dev, generator=t.gen))
        lam = None
        if wants_lam:  # the rest of mixup.sample_lambda, for all seeds at once
            r = torch.stack(raw)
            if obj.lam == "beta":  # λ = X / (X + Y), X, Y ~ Gamma(α); 1/2 if both underflow
                total = r.sum(1)
                lam = torch.where(total > 0, r[:, 0] / total.clamp_min(torch.finfo(r.dtype).tiny), 0.5)
            else:
                lam = r * obj.alpha
            lam = lam.expand(S, n)
        real = data.means[mode] + data.std * offset
        return Draw(real, z, lam, torch.stack(p1) if perms else None, torch.stack(p2) if perms else None)

    def _bce(self, logits: Tensor, target: Tensor) -> Tensor:
        """Each seed's mean BCE(logits, target): (S, n, 1) logits and (S, n) targets → (S,)."""
        if self.exact:
            return torch.stack([F.binary_cross_entropy_with_logits(lo.reshape(-1), t)
                                for lo, t in zip(logits, target)])
        return F.binary_cross_entropy_with_logits(logits.reshape(target.shape), target,
                                                  reduction="none").mean(1)

    def _softplus_mean(self, x: Tensor) -> Tensor:
        """Each seed's mean softplus(x): (S, n, 1) → (S,)."""
        if self.exact:
            return torch.stack([F.softplus(v).mean() for v in x])
        return F.softplus(x).flatten(1).mean(1)

    def _d_losses(self, d: Draw, fake: Tensor) -> Tensor:
        """Each seed's D loss (S,), written as objectives/gan.py writes it, on the seed's slice."""
        real = d.real
        S, n = real.shape[0], real.shape[1]
        if isinstance(self.objective, ErmGan):
            # softplus(−d(x)) + softplus(d(g(z))), one D pass over real and fake
            d_real, d_fake = self.D(torch.cat([real, fake], 1)).split([n, n], dim=1)
            return self._softplus_mean(-d_real) + self._softplus_mean(d_fake)
        if self.objective.pairs == "real_fake":
            # BCE(d(λx + (1−λ)g(z)), λ)   (§3.7)
            return self._bce(self.D(_mix(real, fake, d.lam)), d.lam)
        # The demo pairing: two shuffled real+fake batches (labels 1/0), mixed pairwise.
        h = n // 2
        y = torch.cat([real.new_ones(h), real.new_zeros(h)])
        halves = [torch.cat([real[:, a:b], fake[:, a:b]], 1) for a, b in ((0, h), (h, n))]
        x1 = halves[0].gather(1, d.perm1.unsqueeze(-1).expand(S, n, real.shape[2]))
        x2 = halves[1].gather(1, d.perm2.unsqueeze(-1).expand(S, n, real.shape[2]))
        y_mix = d.lam * y[d.perm1] + (1 - d.lam) * y[d.perm2]  # ỹ = λ·y1 + (1−λ)·y2
        return self._bce(self.D(_mix(x1, x2, d.lam)), y_mix)

    def _g_losses(self, d: Draw, fake: Tensor) -> Tensor:
        """Each seed's G loss (S,), as objectives/gan.py writes it."""
        if d.lam is not None:  # mixup, paper pairing, minimax: G minimizes −BCE(d(λx + (1−λ)g(z)), λ)
            return -self._bce(self.D(_mix(d.real, fake, d.lam)), d.lam)
        d_fake = self.D(fake)
        if self.objective.g_loss_name == "saturating":
            return -self._softplus_mean(d_fake)  # log(1 − σ(d(g(z))))
        return self._softplus_mean(-d_fake)  # −log σ(d(g(z)))

    def train_step(self) -> dict[str, Tensor]:
        """One iteration of every seed; returns (S,) tensors (no host sync)."""
        B = self.cfg.train.batch_size
        n = B * self.objective.d_batches
        for _ in range(self.cfg.train.d_steps):
            d = self._draw(n, d_step=True)
            with torch.no_grad():  # no backprop through G in D steps
                fake = self.G(d.z)
            loss_d = self._d_losses(d, fake)
            self.D.zero_grad(set_to_none=True)
            loss_d.sum().backward()  # seeds share no weights: ∂(Σ_s ℓ_s)/∂θ_s = ∂ℓ_s/∂θ_s
            self.D.share_grads()
            self.opt_D.step()
        gn_d = self.D.grad_norms()
        d = self._draw(B, d_step=False)
        fake = self.G(d.z)
        self.D.requires_grad_(False)  # G's step needs ∂/∂x through D, not D's weight gradients
        loss_g = self._g_losses(d, fake)
        self.G.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        self.D.requires_grad_(True)
        self.G.share_grads()
        self.opt_G.step()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": gn_d,
                "stability/grad_norm_G": self.G.grad_norms()}

    def _iteration(self) -> None:
        out = self.train_step()
        self.window += torch.stack([out[k] for k in WINDOW_KEYS], 1)

    def advance(self) -> None:
        use_matmul_precision(self.seeds[0].matmul_precision)
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
