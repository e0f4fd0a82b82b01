"""The image-GAN trainer (`task: image_gan`): DCGAN with the ERM or mixup objective (paper §3.7 on
images: d(λx + (1−λ)g(z)) → λ), EMA of G, fixed-noise grids, torch-fidelity metrics, DDP under torchrun.

As in the toy trainer, an iteration has no host sync: images, noise and λ come from the run's generator
on the device, and losses and gradient norms are summed on the device until `measure`. Under torchrun
every rank holds the same generator and takes its slice of each global draw, so the one RNG state in
rank 0's checkpoint resumes every rank.
"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor

from mixgan.metrics.stability import grad_norm, probe_discriminator, probe_keys
from mixgan.models import IMAGE_GAN_MODELS
from mixgan.objectives.gan import make_gan_objective, single_member
from mixgan.objectives.plugins import (
    load_plugin_member_state,
    plugin_member_state,
    plugin_metric_names,
    plugin_metrics,
    plugins_of,
)
from mixgan.rundir.checkpoint import rng_state, set_rng_state
from mixgan.rundir.logger import RunLogger
from mixgan.streams import MemberStreams
from mixgan.trainers import distributed as dist
from mixgan.trainers.gan import eval_generator, make_adam
from mixgan.trainers.image_eval import DASHBOARD, ImageEvaluator, preserve_buffers, sample_u8

WINDOW_KEYS = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G")
# The values of metrics.fidelity.KEYS, not imported from there: torch-fidelity takes seconds to import.
FIDELITY_NAMES = ("fid", "kid", "is", "precision", "recall", "density", "coverage")
STOP_SYNC_EVERY = 20  # iterations between the ranks' Ctrl-C agreement under torchrun


def _float_logits(D: Any) -> Any:
    # Logits in float32 whatever the autocast dtype: the losses (softplus, BCE) stay exact. A D split
    # as head ∘ features (DCGAN's) keeps the split, for AdaptiveMix (DDP's wrapper hides it: refused).
    def out(x: Tensor) -> Tensor:
        return D(x).float()

    if callable(getattr(D, "features", None)) and callable(getattr(D, "head", None)):
        out.features = lambda x: D.features(x).float()  # type: ignore[attr-defined]
        out.head = lambda h: D.head(h).float()  # type: ignore[attr-defined]
    return out


class ImageGanTrainer:
    """DCGAN state (G, D, EMA of G, optimizers, RNG) and its one-iteration step."""

    unit = "it"
    watch_keys = ("loss/D", "loss/G")
    summary_keys = ("quality/modes", "quality/reverse_kl", "fidelity/fid_digits", "fidelity/fid_inception",
                    *(f"fidelity/{k}_{t}" for t in ("digits", "inception")  # those the run has
                      for k in ("precision", "recall", "density", "coverage")),
                    "quality_ema/modes", "quality_ema/reverse_kl", "fidelity_ema/fid_digits",
                    "fidelity_ema/fid_inception", "loss/D", "loss/G")
    dashboard = DASHBOARD

    def __init__(self, cfg: Any, device: torch.device) -> None:
        from mixgan.data.gan_images import load_gan_images

        self.rank, self.world, device = dist.init(device)
        self.cfg, self.device = cfg, device
        cuda, m, tr = device.type == "cuda", cfg.model, cfg.train
        self.images = load_gan_images(cfg.data).to(device)  # uint8 (N,C,H,W)
        c, size = self.images.shape[1], self.images.shape[-1]
        torch.manual_seed(cfg.seed)  # parameter init, identical on every rank
        G, D = IMAGE_GAN_MODELS[m.name](m, c, size)  # dcgan, or a plugin's model
        self.G, self.D = G.to(device), D.to(device)
        self.channels_last = cuda and tr.channels_last
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if tr.ema > 0 else None
        self.amp = cuda and tr.amp
        self.G_train, self.D_train = self.G, self.D  # what the backward passes go through
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if cuda else None
            self.G_train, self.D_train = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
        self.opt_G = make_adam(self.G.parameters(), tr, device)
        self.opt_D = make_adam(self.D.parameters(), tr, device)
        self.objective = make_gan_objective(cfg.objective, device, cfg.stabilizers, cfg.train.d_steps)
        self.gen = torch.Generator(device).manual_seed(cfg.seed)
        self.rand = MemberStreams([self.gen])  # the objectives' member axis: this run is one member
        # A fixed noise batch for every sample grid (docs/design.md, habit 5).
        self.fixed_z = torch.randn(64, m.latent_dim, device=device,
                                   generator=torch.Generator(device).manual_seed(cfg.seed + 1))
        self.step, self.total = 0, tr.iterations
        self.evaluator = ImageEvaluator(cfg, self.images, device) if self.rank == 0 else None
        self._reset_window()

    # -- the hot path -------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def _draw(self, n: int, gen: torch.Generator, shard: bool = True) -> tuple[Tensor, Tensor]:
        """Real images in [-1, 1] and noise: this rank's n of a global draw of world·n."""
        k = self.world if shard else 1
        idx = torch.randint(0, self.images.shape[0], (k * n,), device=gen.device, generator=gen)
        z = torch.randn(k * n, self.cfg.model.latent_dim, device=gen.device, generator=gen)
        mine = slice(self.rank * n, self.rank * n + n) if shard else slice(None)
        real = self.images[idx[mine]].float().div_(127.5).sub_(1)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, z[mine]

    def train_step(self) -> dict[str, Tensor]:
        """`d_steps` D updates, then one G update and the EMA. Returns detached 0-dim tensors."""
        B, obj = self.cfg.train.batch_size, self.objective
        for _ in range(self.cfg.train.d_steps):
            real, z = self._draw(B * obj.d_batches, self.gen)
            with torch.no_grad(), self._autocast():  # no backprop through G in D steps
                fake = self.G(z)
            with self._autocast():
                # The objectives take (S, n, ...) batches: this run is a stack of one member.
                loss_d = obj.d_loss(single_member(_float_logits(self.D_train)), real[None], fake[None],
                                    self.rand)[0]
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_D.step()
        gn_d = grad_norm(self.D)
        real, z = self._draw(B, self.gen)
        self.D.requires_grad_(False)  # G's step needs ∂/∂x through D (unwrapped: no DDP sync of D)
        with self._autocast():
            loss_g = obj.g_loss(single_member(_float_logits(self.D)), real[None], self.G_train(z)[None],
                                self.rand)[0]
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_G.step()
        self._update_ema()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": gn_d, "stability/grad_norm_G": grad_norm(self.G)}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # Decay ramp of TensorFlow's ExponentialMovingAverage(num_updates): early on the average
        # follows G instead of remembering its random initialization.
        decay = min(self.cfg.train.ema, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):  # BN running statistics
            b_ema.copy_(b)

    def _reset_window(self) -> None:
        self.window = torch.zeros(len(WINDOW_KEYS), device=self.device)
        self.window_n = 0

    def advance(self) -> None:
        if hasattr(self.objective, "at_step"):  # annealed instance noise or mixup α
            self.objective.at_step(self.step, self.total)
        out = self.train_step()
        self.window += torch.stack([out[k].float() for k in WINDOW_KEYS])
        self.window_n += 1
        self.step += 1
        # One rank's Ctrl-C stops all ranks at the same step; agreed every STOP_SYNC_EVERY steps,
        # not every step (each agreement is an all-reduce and a host sync).
        dist.sync_stop(self.world, self.device, self.step, STOP_SYNC_EVERY)

    # -- measurements (host sync here) ---------------------------------------------------------
    def quality_due(self) -> bool:
        every = self.cfg.metrics.fid_every
        return (every > 0 and self.step % every == 0) or self.step == self.total

    @staticmethod
    def metric_names(cfg: Any) -> set[str]:
        """The names `measure` can report for `cfg` at the last step: losses and probes, then for G (and
        its EMA) modes and reverse KL on digit data and every fidelity metric of each extractor."""
        from mixgan.config.image_gan import EMBEDDED_IMAGES, resolved_extractors

        names = {*WINDOW_KEYS, *probe_keys(), *plugin_metric_names(cfg.stabilizers)}
        digits = cfg.data.name in EMBEDDED_IMAGES
        tags = [t for t in resolved_extractors(cfg) if t != "digits" or digits]
        for suffix in ("", "_ema") if cfg.train.ema > 0 else ("",):
            names |= {f"quality{suffix}/{k}" for k in ("modes", "reverse_kl") if digits}
            names |= {f"fidelity{suffix}/{k}_{t}" for k in FIDELITY_NAMES for t in tags}
        return names

    def measure(self) -> dict[str, float]:
        """Window means over all ranks (the same on every rank: the same divergence decision), then on
        rank 0 D probes and, when due, image quality of G and of its EMA."""
        from mixgan.trainers.loop import on_cadence

        means = dist.all_sum(self.window / max(self.window_n, 1), self.world) / self.world
        if on_cadence(self.cfg.metrics, self.step):  # off it (a last unit): an extension goes on summing
            self._reset_window()
        out: dict[str, Tensor] = dict(zip(WINDOW_KEYS, means))
        out.update({k: v[0] for k, v in plugin_metrics(self.objective).items()})  # e.g. LeCam's anchors
        if self.rank == 0:
            gen = eval_generator(self.cfg.seed, self.step, self.device)
            real, z = self._draw(self.cfg.train.batch_size, gen, shard=False)
            with preserve_buffers(self.G, self.D):
                with torch.no_grad():
                    fake = self.G(z)
                out.update(probe_discriminator(self.D, real, fake, gen))
        values = dict(zip(out, torch.stack([v.float() for v in out.values()]).tolist()))
        if self.rank == 0 and self.quality_due() and all(math.isfinite(values[k]) for k in self.watch_keys):
            values.update(self.quality())
        return values

    def quality(self) -> dict[str, float]:
        """Modes / reverse KL (digit data) and torch-fidelity metrics of G, then of its EMA (`_ema`)."""
        n, latent = self.cfg.metrics.n_samples, self.cfg.model.latent_dim
        out = {}
        for suffix, G in (("", self.G), ("_ema", self.G_ema)):
            if G is not None:  # the same noise for G and its EMA, at every measurement
                gen = torch.Generator(self.device).manual_seed(self.cfg.seed + 2)
                out.update(self.evaluator.evaluate(sample_u8(G, n, latent, gen), suffix))
        return out

    def references(self) -> dict[str, dict[str, float]] | None:
        """What held-out real images, uniform noise images and one repeated image score on this run's
        features and sample size (metrics/image_reference.py): measured once, on rank 0."""
        if self.evaluator is None:
            return None
        if getattr(self, "_references", None) is None:
            from mixgan.data.gan_images import held_out_images
            from mixgan.metrics.image_reference import reference_scores

            real = held_out_images(self.cfg.data, self.images, self.cfg.metrics.n_samples)
            self._references = reference_scores(self.evaluator, real)
        return self._references

    def pictures(self, logger: RunLogger) -> None:
        """The fixed-noise grid of G and of its EMA in TensorBoard (and as PNGs at the end)."""
        from torchvision.utils import make_grid, save_image

        for tag, G in (("samples", self.G), ("samples_ema", self.G_ema)):
            if G is None:
                continue
            with torch.no_grad(), preserve_buffers(G):
                x = G(self.fixed_z).float().add(1).div(2).clamp(0, 1).cpu()
            x = torch.nn.functional.interpolate(x, scale_factor=max(1, 32 // x.shape[-1]))  # 8 px → 32 px
            grid = make_grid(x, nrow=8, padding=1, pad_value=1.0)
            logger.tb(logger.writer.add_image, tag, grid, self.step)  # events off after an error
            if self.step == self.total:
                save_image(grid, logger.run_dir / f"{tag}.png")

    # -- checkpointing and worker ranks --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(),
                 "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                 "window": self.window, "window_n": self.window_n, "rng": rng_state({"gen": self.gen})}
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        stabilizers = plugin_member_state(self.objective, 0)  # e.g. LeCam's anchors
        if stabilizers:
            state["stabilizers"] = stabilizers
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.window = state["window"].to(self.device)
        self.window_n = int(state["window_n"])
        set_rng_state({"gen": self.gen}, state["rng"])
        if plugins_of(self.objective):
            load_plugin_member_state(self.objective, 0, state["stabilizers"])

    def run_worker(self) -> dict[str, Any]:
        """Ranks > 0 under torchrun: the same units as rank 0, writing nothing (trainers/loop.py)."""
        from mixgan.trainers.loop import run_worker

        return run_worker(self)
