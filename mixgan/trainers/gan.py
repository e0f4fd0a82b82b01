"""The toy-GAN trainer: a stack of S ≥ 1 members trained at once (paper Fig. 5: Adam, k D steps per G step).

A member is a seed plus the settings allowed to differ inside a stack (the objective's
`member_keys`, e.g. mixup's α); everything else (shapes, objective, data, batch, d_steps) is shared.
G and D are StackedMLPs, one optimizer each over the stacked weights (Adam is elementwise, so each
member gets its own update), and the members' random streams are their own generators. S = 1 is an
ordinary run, through the same lines. One iteration (`train_step`) is device work only: data, noise
and λ are drawn on the device, losses and gradient norms are summed into a (S, K) window on the device,
and they are read back only when `measure` runs (every `metrics.every` iterations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mixgan.config.core import to_dict
from mixgan.data import GAN_DATA
from mixgan.data.finite import make_source
from mixgan.metrics.stability import probe_discriminator, probe_keys
from mixgan.metrics.toy import QUALITY, ToyReference
from mixgan.models.stacked_net import stack_nets
from mixgan.models.toy_layers import build_toy_net
from mixgan.objectives.gan import GAN_OBJECTIVES, make_gan_objective
from mixgan.objectives.plugins import (
    enabled,
    load_plugin_member_state,
    plugin_member_state,
    plugin_metric_names,
    plugin_metrics,
    plugins_of,
)
from mixgan.objectives.plugins import member_keys as stabilizer_member_keys
from mixgan.rundir.dashboard import GAN_LAYOUT, gan_layout
from mixgan.rundir.logger import RunLogger
from mixgan.rundir.paths import FINAL_SAMPLES, SAMPLES_PNG
from mixgan.streams import MemberStreams
from mixgan.trainers.adam_members import MemberAdam, load_member_adam, member_adam_state
from mixgan.trainers.cuda_graph import fast_iteration
from mixgan.trainers.loop import due

# Summed on the device every iteration, averaged over the window at each measurement.
WINDOW_KEYS = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G")


def member_adam(params: Any, cfg: Any, device: torch.device, net: str) -> MemberAdam:
    """The stack's Adam for G (net="g") or D ("d"), with that network's own lr and β1 where set."""
    own_lr, own_beta1 = getattr(cfg, f"{net}_lr"), getattr(cfg, f"{net}_beta1")
    return MemberAdam(params, cfg.lr if own_lr is None else own_lr,
                      (cfg.beta1 if own_beta1 is None else own_beta1, cfg.beta2), device)


def make_adam(params: Any, cfg: Any, device: torch.device) -> torch.optim.Adam:
    """One torch Adam with the config's lr/betas (the image GAN and train_gan): fused and `capturable`
    on CUDA (step counts stay on the device, so the eager and the CUDA-graph iteration run the same
    optimizer code), `foreach` on the CPU. The toy GAN's stacks use MemberAdam (fused where exact)."""
    on_cuda = device.type == "cuda"
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=on_cuda or None,
                            foreach=None if on_cuda else True, capturable=on_cuda)


def matmul_precision(train_cfg: Any, device: torch.device) -> str | None:
    """torch's float32 matmul precision for this run: "high" (TF32) or "highest" on CUDA, else None
    (the CPU keeps its default, so CPU runs stay bit-for-bit what they were)."""
    if device.type != "cuda":
        return None
    return "high" if train_cfg.tf32 else "highest"


def use_matmul_precision(precision: str | None) -> None:
    """Set torch's float32 matmul precision (process-wide) for the step about to run; None: leave it."""
    if precision:
        torch.set_float32_matmul_precision(precision)


def toy_net(m: Any, net: str, n_in: int, n_out: int) -> torch.nn.Sequential:
    """One member's G (net="g") or D ("d"): its family and sizes from the model section."""
    sec = getattr(m, net)
    return build_toy_net(sec.name or m.name, n_in, n_out, sec.hidden or m.hidden, sec.depth or m.depth,
                         activation=m.activation, bias=sec.bias, pieces=m.maxout_pieces, init=m.init,
                         init_std=m.init_std)


def eval_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """A generator for measurements only, so that measuring never shifts the training stream."""
    return torch.Generator(device).manual_seed((seed * 1_000_003 + step) % (2**63))


def outputs_logits(cfg: Any) -> bool:
    """Whether D's outputs are logits (BCE), reported as probabilities σ(D), or a critic's raw scores."""
    return cfg.objective.loss in ("bce",)


def member_keys(cfg: Any) -> set[str]:
    """Dotted config keys that may differ between members of one stack: the seed, the run's place,
    and the numeric settings the objective declares (`member_keys`)."""
    obj = GAN_OBJECTIVES.get(cfg.objective.name)
    return ({"seed", "run.name", "run.dir"} | {f"objective.{k}" for k in getattr(obj, "member_keys", ())}
            | {f"stabilizers.{k}" for k in stabilizer_member_keys()})


def stack_key(cfg: Any) -> tuple:
    """What members of one stack share: the whole config except its member keys (a hashable tuple)."""
    from mixgan.config.core import flatten

    keys = member_keys(cfg)
    shared = sorted((k, repr(v)) for k, v in flatten(to_dict(cfg)).items() if k not in keys)
    # Whether a penalty or the noise is on changes the random draws: shared, though the weight is not.
    return (*shared, ("stabilizers.enabled", enabled(cfg.stabilizers)))


class GanTrainer:
    """Toy-GAN state of S members (stacked G, D, optimizers, streams) and its one-iteration step."""

    unit = "it"
    dashboard = GAN_LAYOUT  # TensorBoard custom scalars: "Stability" and "Quality" sections
    watch_keys = ("loss/D", "loss/G")
    end_of_run = ("final_large/",)  # measured at the last iteration only (a resume that extends drops them)
    summary_keys = ("quality/modes", "quality/high_quality", "quality/reverse_kl", "quality/density",
                    "quality/coverage", "quality/sliced_w1", "quality/loglik",
                    *(f"final_large/{k}" for k in QUALITY), "loss/D", "loss/G", "stability/grad_input_real")

    def __init__(self, cfgs: Any | Sequence[Any], device: torch.device) -> None:
        cfgs = list(cfgs) if isinstance(cfgs, (list, tuple)) else [cfgs]
        if any(stack_key(c) != stack_key(cfgs[0]) for c in cfgs[1:]):
            raise ValueError("members of one stack may differ only in seed and member settings "
                             f"({', '.join(sorted(member_keys(cfgs[0])))})")
        self.cfgs, self.cfg, self.device = cfgs, cfgs[0], device
        d, m, st, tr = self.cfg.data, self.cfg.model, self.cfg.stabilizers, self.cfg.train
        self.data = GAN_DATA[d.name](std=d.std, radius=d.radius, spacing=d.spacing).to(device)
        Gs, Ds, self.cpu_rng = [], [], []
        for c in cfgs:  # each member's initial weights from its own seed, G then D
            torch.manual_seed(c.seed)
            Gs.append(toy_net(m, "g", m.latent_dim, 2))
            Ds.append(toy_net(m, "d", 2 * st.pack, 1))  # PacGAN: D reads m points at once
            self.cpu_rng.append(torch.get_rng_state())  # as a run alone would checkpoint it
        self.G = stack_nets(Gs).to(device)
        self.D = stack_nets(Ds, spectral_norm=st.spectral_norm).to(device)
        # PacGAN's G runs once per pack slot, so its batch norm takes each slot's batch on its own.
        self.G.bn_groups = st.pack
        self.opt_G = member_adam(self.G.parameters(), tr, device, "g")
        self.opt_D = member_adam(self.D.parameters(), tr, device, "d")
        # Real batches: fresh draws, or a fixed training set read in epochs (data/finite.py); a batch of
        # `examples` is that many points, or packs of `per_example` points (train.batch_of).
        self.source = make_source(self.data, cfgs, device)
        self.per_example = st.pack if tr.batch_of == "packs" else 1
        self.batches = 0  # real batches read so far (the training set's position)
        # graph_safe on CUDA: the iteration is captured as a CUDA graph there (and with graphs off,
        # MIXGAN_CUDA_GRAPHS=0, the eager step keeps the same maths and draws to compare with).
        self.objective = make_gan_objective([c.objective for c in cfgs], device,
                                            [c.stabilizers for c in cfgs], tr.d_steps,
                                            graph_safe=device.type == "cuda")
        # An EMA of G's weights (decay per member), measured separately as quality_ema/*.
        self.G_ema = stack_nets(Gs).to(device).requires_grad_(False) if tr.ema > 0 else None
        self.ema_decay = torch.tensor([c.train.ema for c in cfgs], device=device)
        self.dashboard = gan_layout(self.cfg.objective.loss == "bce", self.G_ema is not None)
        self.rand = MemberStreams.from_seeds([c.seed for c in cfgs], device)
        self.matmul_precision = matmul_precision(self.cfg.train, device)
        # A fixed noise batch per member for every sample picture (docs/design.md).
        self.fixed_z = torch.stack([torch.randn(512, m.latent_dim, device=device,
                                                generator=torch.Generator(device).manual_seed(c.seed + 1))
                                    for c in cfgs])
        self.step, self.total = 0, self.cfg.train.iterations
        self.window = torch.zeros(len(cfgs), len(WINDOW_KEYS), device=device)
        self.window_n = 0
        # The iteration as called by `advance`: itself on the CPU, a CUDA graph replay on CUDA (not with
        # a training set: its batch position is a Python number, which a graph would freeze).
        self._graphs = tr.dataset_size == 0
        self._fast = fast_iteration(self._iteration, device, self.rand.generators) if self._graphs \
            else self._iteration

    @property
    def members(self) -> int:
        return len(self.cfgs)

    def hparams(self, config: dict[str, Any]) -> dict[str, float | str | bool]:
        """What the loop logs as this run's hparams (mixgan/rundir/dashboard.py)."""
        from mixgan.trainers.gan_hparams import toy_gan_hparams

        return toy_gan_hparams(config, self.device.type)

    # -- the hot path -------------------------------------------------------------------------
    def _real(self, examples: int) -> Tensor:
        """The next real batch of `examples` points or packs, (S, examples·per_example, 2)."""
        self.batches += 1
        return self.source.batch(examples, self.rand, self.batches - 1)

    def train_step(self) -> dict[str, Tensor]:
        """One iteration of every member: `d_steps` D updates, then one G update (or, simultaneous,
        both from one batch). Returns (S,) tensors."""
        if self.cfg.train.update == "simultaneous":
            return self._simultaneous_step()
        B, obj, latent = self.cfg.train.batch_size, self.objective, self.cfg.model.latent_dim
        n = B * obj.d_batches
        for _ in range(self.cfg.train.d_steps):
            real = self._real(n)
            with torch.no_grad():  # no backprop through G in D steps
                fake = self.G(self.rand.normal(real.shape[1], latent))
            loss_d = obj.d_loss(self.D, real, fake, self.rand)
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.sum().backward()  # members share no weights: ∂(Σ_s ℓ_s)/∂θ_s = ∂ℓ_s/∂θ_s
            self.opt_D.step()
        gn_d = self.D.grad_norms()
        real = self._real(B)
        fake = self.G(self.rand.normal(real.shape[1], latent))
        self.D.requires_grad_(False)  # G's step needs ∂/∂x through D, not D's weight gradients
        loss_g = obj.g_loss(self.D, real, fake, self.rand)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        self.D.requires_grad_(True)
        self.opt_G.step()
        self._update_ema()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": gn_d, "stability/grad_norm_G": self.G.grad_norms()}

    def _simultaneous_step(self) -> dict[str, Tensor]:
        """ALI's algorithm (PacGAN's protocol): one real batch and one generated batch; D's gradient of
        its loss and G's gradient of its loss, both at the current weights; then both Adam steps."""
        obj = self.objective
        real = self._real(self.cfg.train.batch_size * obj.d_batches)
        fake = self.G(self.rand.normal(real.shape[1], self.cfg.model.latent_dim))  # one G forward
        loss_d = obj.d_loss(self.D, real, fake.detach(), self.rand)
        self.D.requires_grad_(False)
        loss_g = obj.g_loss(self.D, real, fake, self.rand)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        self.opt_G.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        loss_g.sum().backward()
        self.opt_D.step()
        self.opt_G.step()
        self._update_ema()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": self.D.grad_norms(), "stability/grad_norm_G": self.G.grad_norms()}

    def _update_ema(self) -> None:
        if self.G_ema is not None:
            with torch.no_grad():  # ema ← decay·ema + (1 − decay)·θ, per member (batch-norm statistics too)
                for e, p in zip(self.G_ema._state_tensors(), self.G._state_tensors()):
                    d = self.ema_decay.view(-1, *([1] * (p.dim() - 1)))
                    e.mul_(d).add_((1 - d) * p)

    def _iteration(self) -> None:
        """One iteration and its window sums: device work only (what a CUDA graph captures)."""
        out = self.train_step()
        self.window += torch.stack([out[k] for k in WINDOW_KEYS], 1)  # in place: the graph keeps it

    def advance(self) -> None:
        use_matmul_precision(self.matmul_precision)  # process-wide in torch: this trainer's, now
        if hasattr(self.objective, "at_step"):  # annealed noise or mixup α: an in-place write
            self.objective.at_step(self.step, self.total)
        self._fast()
        self.window_n += 1
        self.step += 1

    # -- measurements (host sync happens here, every K iterations) -----------------------------
    @torch.no_grad()
    def _sample(self, s: int, n: int, rand: MemberStreams, G: Any = None) -> Tensor:
        return (G or self.G).member(s)(rand.normal(n, self.cfg.model.latent_dim)[0])

    def critic(self, s: int) -> Any:
        """Member s's D as a function of (n, 2) points; with PacGAN-m, of a pack of m copies of a point."""
        D, m = self.D.member(s), self.cfg.stabilizers.pack
        return D if m == 1 else (lambda x: D(x.repeat(1, m)))

    @staticmethod
    def metric_names(cfg: Any) -> set[str]:
        """The names `measure` reports for `cfg` (a sweep's `metrics:` is checked against them); the
        final_large/* ones only at the last iteration."""
        return {*WINDOW_KEYS, *probe_keys(outputs_logits(cfg)), *(f"quality/{k}" for k in QUALITY),
                *plugin_metric_names(cfg.stabilizers),
                *(f"quality_ema/{k}" for k in QUALITY if cfg.train.ema > 0),
                *(f"final_large/{k}" for k in QUALITY if cfg.metrics.final_samples > 0)}

    def toy_reference(self) -> ToyReference:
        """The fixed real sample all quality metrics compare with, drawn once (metrics/toy.py)."""
        if getattr(self, "_toy_reference", None) is None:
            mc = self.cfg.metrics
            self._toy_reference = ToyReference(self.data, mc.n_samples, max(mc.n_samples, mc.final_samples),
                                               self.device, mc.hq_sigmas)
        return self._toy_reference

    def health(self, metrics: dict[str, float]) -> Any:
        """A member's verdict on its row (metrics/health.py), read against references at its sample size."""
        from mixgan.metrics.health import judge, references

        refs = references(self.toy_reference(), self.cfg.metrics.n_samples)
        return judge(metrics, refs, outputs_logits(self.cfg))

    def measure(self) -> list[dict[str, float]]:
        """Per member: window means of losses and grad norms, D probes, quality on fresh samples
        (metrics/toy.py: the PacGAN protocol, density/coverage, sliced W1, log-likelihood); at the last
        iteration also on metrics.final_samples fresh samples (final_large/*)."""
        means = self.window / max(self.window_n, 1)
        B, mc = self.cfg.train.batch_size, self.cfg.metrics
        ref = self.toy_reference()
        rows: list[dict[str, Tensor]] = []
        last = self.step == self.total and mc.final_samples > 0
        extra = plugin_metrics(self.objective)  # the stabilizers' own numbers (S,), e.g. LeCam's anchors
        for s, c in enumerate(self.cfgs):  # each member's draws from its own measurement generator
            gen = eval_generator(c.seed, self.step, self.device)
            rand = MemberStreams([gen])
            out: dict[str, Tensor] = dict(zip(WINDOW_KEYS, means[s]))
            out.update({k: v[s] for k, v in extra.items()})
            real = self.data.sample(B, rand)[0]
            out.update(probe_discriminator(self.critic(s), real, self._sample(s, B, rand), gen,
                                           probability=outputs_logits(self.cfg)))
            # Quality of this member's sample sets, scored as drawn (scoring draws nothing): one member's
            # samples held at a time (20,000 points at the end), whatever the stack's size (issue 35).
            sets = [("quality/", self._sample(s, mc.n_samples, rand))]
            if self.G_ema is not None:
                sets.append(("quality_ema/", self._sample(s, mc.n_samples, rand, self.G_ema)))
            if last:  # its own stream: the 2,500-sample values are those of a run without it
                own = MemberStreams([eval_generator(c.seed, -1, self.device)])
                sets.append(("final_large/", self._sample(s, mc.final_samples, own)))
            for prefix, points in sets:
                out.update({k: v[0] for k, v in ref.score(points[None], prefix).items()})
            del sets
            rows.append(out)
        if due(mc.every, self.step):  # off the cadence (a last unit): an extension goes on summing
            self.window.zero_()  # in place: a captured CUDA graph keeps adding into this very tensor
            self.window_n = 0
        keys = list(rows[0])
        values = torch.stack([torch.stack([r[k].float() for k in keys]) for r in rows]).tolist()
        return [dict(zip(keys, v)) for v in values]  # ^ the one host sync, for every member

    def pictures(self, s: int, logger: RunLogger) -> None:
        """Member s's fixed-noise samples over σ(D), as a TensorBoard image; at the end also as
        samples.png and the samples as final_samples.npy in the run dir."""
        from mixgan.report.plots import toy_heatmap, toy_samples_figure

        with torch.no_grad():
            fake = self.G.member(s)(self.fixed_z[s])
        real = self.data.sample(512, MemberStreams([eval_generator(self.cfgs[s].seed, 0, self.device)]))[0]
        heat = toy_heatmap(self.critic(s), real, self.device)
        real, fake = real.cpu(), fake.cpu()
        title = f"{self.cfg.objective.name}, step {self.step}"
        fig = toy_samples_figure(real, fake, heat, title)
        if self.step == self.total:  # the last samples: for compare's sample grid, and a picture to open
            np.save(logger.run_dir / FINAL_SAMPLES, fake.numpy())
            fig.savefig(logger.run_dir / SAMPLES_PNG)
        logger.figure("samples", fig, self.step)

    # -- checkpointing: each member's state is that of a run alone ------------------------------
    def member_state(self, s: int) -> dict[str, Any]:
        return {"G": self.G.member_state_dict(s), "D": self.D.member_state_dict(s),
                "opt_G": member_adam_state(self.opt_G, self.G.stacked(), s),
                "opt_D": member_adam_state(self.opt_D, self.D.stacked(), s),
                **({"G_ema": self.G_ema.member_state_dict(s)} if self.G_ema is not None else {}),
                **({"D_sn": self.D.member_sn_state(s)} if self.D.spectral_norm else {}),
                **({"stabilizers": plugin_member_state(self.objective, s)}
                   if plugins_of(self.objective) else {}),
                "window": self.window[s].clone(), "window_n": self.window_n, "batches": self.batches,
                "rng": {"gen": self.rand.get_state(s), "torch_cpu": self.cpu_rng[s]}}

    def load_member_states(self, states: Sequence[dict[str, Any]]) -> None:
        """Resume: member s loads states[s] (its own run's checkpoint state), the stack is rebuilt."""
        if len(states) != self.members:
            raise ValueError(f"{len(states)} member states for a stack of {self.members}")
        windows = {int(st["window_n"]) for st in states}
        if len(windows) != 1:
            raise ValueError("members of one stack must resume from the same step")
        for s, st in enumerate(states):
            self.G.load_member_state_dict(s, st["G"])
            self.D.load_member_state_dict(s, st["D"])
            load_member_adam(self.opt_G, self.G.stacked(), s, st["opt_G"])
            load_member_adam(self.opt_D, self.D.stacked(), s, st["opt_D"])
            if self.G_ema is not None:
                self.G_ema.load_member_state_dict(s, st["G_ema"])
            if self.D.spectral_norm:
                self.D.load_member_sn_state(s, st["D_sn"])
            self.window[s].copy_(st["window"])
            if plugins_of(self.objective):  # in place: the stabilizers' tensors stay the graph's
                load_plugin_member_state(self.objective, s, st["stabilizers"])
            gen = st["rng"]["gen"]
            self.rand.set_state(s, gen.cpu() if hasattr(gen, "cpu") else gen)
            self.cpu_rng[s] = st["rng"]["torch_cpu"]
        self.window_n = windows.pop()
        self.batches = int(states[0].get("batches", 0))
        # A graph captured before would hold the replaced optimizer tensors: capture again.
        if self._graphs:
            self._fast = fast_iteration(self._iteration, self.device, self.rand.generators)

    # A run alone (S = 1) as the loop's single-run interface sees it.
    def state_dict(self) -> dict[str, Any]:
        return self.member_state(0)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_member_states([state])
