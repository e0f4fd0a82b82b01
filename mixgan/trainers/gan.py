"""The toy GAN trainer: Adam, k D steps per G step (paper Fig. 5), metrics every K iterations.

One iteration (`train_step`) is a function of tensors with no host sync: data and noise are drawn
on the device from the run's generator, losses and gradient norms are summed on the device, and
they are read back only when `measure` runs (every `metrics.every` iterations).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from mixgan.checkpoint import rng_state, set_rng_state
from mixgan.dashboard import GAN_LAYOUT
from mixgan.data import GAN_DATA
from mixgan.fast import fast_iteration
from mixgan.metrics.stability import grad_norm, probe_discriminator
from mixgan.metrics.toy import mode_stats
from mixgan.models.mlp import mlp
from mixgan.objectives.gan import make_gan_objective
from mixgan.runlog import RunLogger

FINAL_SAMPLES = "final_samples.npy"
# Summed on the device every iteration, averaged over the window at each measurement.
WINDOW_KEYS = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G")


def make_adam(params: Any, cfg: Any, device: torch.device) -> torch.optim.Adam:
    """Adam with the config's lr/betas; the fused kernel (one pass per tensor, ~4x faster here).

    On CUDA it is `capturable` (step counts stay on the device), so the eager and the CUDA-graph
    iteration (mixgan/fast.py) run the same optimizer code.
    """
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused,
                            capturable=device.type == "cuda")


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


def eval_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """A generator for measurements only, so that measuring never shifts the training stream."""
    return torch.Generator(device).manual_seed((seed * 1_000_003 + step) % (2**63))


class GanTrainer:
    """Toy-GAN state (G, D, optimizers, RNG) and its one-iteration step."""

    unit = "it"
    dashboard = GAN_LAYOUT  # TensorBoard custom scalars: "Stability" and "Quality" sections
    watch_keys = ("loss/D", "loss/G")
    summary_keys = ("quality/modes", "quality/high_quality", "quality/reverse_kl",
                    "loss/D", "loss/G", "stability/grad_input_real")

    def __init__(self, cfg: Any, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        d, m = cfg.data, cfg.model
        self.data = GAN_DATA[d.name](std=d.std, radius=d.radius, spacing=d.spacing).to(device)
        torch.manual_seed(cfg.seed)  # parameter init
        self.G = mlp(m.latent_dim, 2, m.hidden, m.depth).to(device)
        self.D = mlp(2, 1, m.hidden, m.depth).to(device)
        self.opt_G = make_adam(self.G.parameters(), cfg.train, device)
        self.opt_D = make_adam(self.D.parameters(), cfg.train, device)
        self.objective = make_gan_objective(cfg.objective)
        self.gen = torch.Generator(device).manual_seed(cfg.seed)
        self.matmul_precision = matmul_precision(cfg.train, device)
        # A fixed noise batch for every sample picture (DESIGN.md, habit 5).
        self.fixed_z = torch.randn(512, m.latent_dim, device=device,
                                   generator=torch.Generator(device).manual_seed(cfg.seed + 1))
        self.step = 0
        self.total = cfg.train.iterations
        self.window = torch.zeros(len(WINDOW_KEYS), device=device)
        self._reset_window()
        # The iteration as called by `advance`: itself on the CPU, a CUDA graph replay on CUDA.
        self._fast = fast_iteration(self._iteration, device, [self.gen])

    # -- the hot path -------------------------------------------------------------------------
    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=self.gen)

    def train_step(self) -> dict[str, Tensor]:
        """One iteration: `d_steps` D updates, then one G update. Returns detached 0-dim tensors."""
        B, obj = self.cfg.train.batch_size, self.objective
        n = B * obj.d_batches
        for _ in range(self.cfg.train.d_steps):
            real = self.data.sample(n, self.gen)
            with torch.no_grad():  # no backprop through G in D steps
                fake = self.G(self._noise(n))
            loss_d = obj.d_loss(self.D, real, fake, self.gen)
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_D.step()
        gn_d = grad_norm(self.D)
        real = self.data.sample(B, self.gen)
        fake = self.G(self._noise(B))
        self.D.requires_grad_(False)  # G's step needs ∂/∂x through D, not D's weight gradients
        loss_g = obj.g_loss(self.D, real, fake, self.gen)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_G.step()
        return {"loss/D": loss_d.detach(), "loss/G": loss_g.detach(),
                "stability/grad_norm_D": gn_d, "stability/grad_norm_G": grad_norm(self.G)}

    def _reset_window(self) -> None:
        self.window.zero_()  # in place: a captured CUDA graph keeps adding into this very tensor
        self.window_n = 0

    def _iteration(self) -> None:
        """One iteration and its window sums: device work only (what a CUDA graph captures)."""
        out = self.train_step()
        self.window += torch.stack([out[k] for k in WINDOW_KEYS])

    def advance(self) -> None:
        use_matmul_precision(self.matmul_precision)  # process-wide in torch: this trainer's, now
        self._fast()
        self.window_n += 1
        self.step += 1

    # -- measurements (host sync happens here, every K iterations) -----------------------------
    def measure_due(self) -> bool:
        return self.step % self.cfg.metrics.every == 0 or self.step == self.total

    def pictures_due(self) -> bool:
        every = self.cfg.metrics.image_every
        return (every > 0 and self.step % every == 0) or self.step == self.total

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator) -> Tensor:
        return self.G(torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=gen))

    def measure(self) -> dict[str, float]:
        """Window means of losses and grad norms, D probes, and mode quality on fresh samples."""
        gen = eval_generator(self.cfg.seed, self.step, self.device)
        means = self.window / max(self.window_n, 1)
        out: dict[str, Tensor] = dict(zip(WINDOW_KEYS, means))
        B = self.cfg.train.batch_size
        real = self.data.sample(B, gen)
        out.update(probe_discriminator(self.D, real, self.sample(B, gen), gen))
        samples = self.sample(self.cfg.metrics.n_samples, gen)
        out.update(mode_stats(samples, self.data.means, self.data.std, self.cfg.metrics.hq_sigmas))
        self._reset_window()
        values = torch.stack([v.float() for v in out.values()]).tolist()  # the one host sync
        return dict(zip(out, values))

    def pictures(self, logger: RunLogger) -> None:
        """Fixed-noise samples over σ(D), as a TensorBoard image (and the final samples as .npy)."""
        from mixgan.plots import toy_heatmap, toy_samples_figure

        with torch.no_grad():
            fake = self.G(self.fixed_z)
        real = self.data.sample(512, eval_generator(self.cfg.seed, 0, self.device))
        heat = toy_heatmap(self.D, real, self.device)
        real, fake = real.cpu(), fake.cpu()
        title = f"{self.cfg.objective.name}, step {self.step}"
        logger.figure("samples", toy_samples_figure(real, fake, heat, title), self.step)
        if self.step == self.total:  # the last fixed-noise samples, for mixgan.compare's sample grid
            np.save(logger.run_dir / FINAL_SAMPLES, fake.numpy())

    # -- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                "window": self.window, "window_n": self.window_n,
                "rng": rng_state({"gen": self.gen})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.window.copy_(state["window"])
        self.window_n = int(state["window_n"])
        set_rng_state({"gen": self.gen}, state["rng"])
        # A graph captured before would hold the replaced optimizer tensors: capture again.
        self._fast = fast_iteration(self._iteration, self.device, [self.gen])
