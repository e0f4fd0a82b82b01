"""Your G, D and data through mixgan's one loop (`mixgan.train_gan`): the run dir, the TensorBoard
dashboard, checkpoints and resume, divergence as a result, Ctrl-C, seeds and the statistics of
`python -m mixgan.compare`, for models mixgan did not write.

The loss is a `mixgan.GANLoss` (the engine's objective at S = 1: api/losses.py), the loop is
trainers/loop.py, the probes are metrics/stability.py and, on a registered toy data set, the quality
scores are metrics/toy.py's: nothing here is a second copy of them. One iteration is device work only
(losses and gradient norms are summed into a window on the device); numbers are read back every
`metrics_every` iterations, as in the built-in trainers.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn

from mixgan.errors import ConfigError
from mixgan.streams import MemberStreams

WINDOW_KEYS = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G")
_REFERENCES: dict[tuple, Any] = {}  # toy data set and sizes -> its ToyReference (metrics/toy.py)


@dataclasses.dataclass
class RunSettings:
    """Where the run goes and how it is bookkept (compare ignores these keys when it pools seeds)."""

    dir: str = "runs"
    name: str = ""
    progress: bool = True
    checkpoint_every: int = 1000


@dataclasses.dataclass
class MetricSettings:
    every: int = 100  # iterations between read-backs of every number (the only host syncs)
    image_every: int = 1000  # iterations between sample pictures (0: only at the end; -1: never)
    n_samples: int = 2500  # toy data: samples scored at each measurement (the PacGAN protocol's size)
    final_samples: int = 20000  # toy data: the final model scored again on this many (final_large/*)
    hq_sigmas: float = 3.0


@dataclasses.dataclass
class OwnGanConfig:
    """What a `train_gan` run records in config.yaml: only what it reads, plus your `config`."""

    task: str
    seed: int
    device: str
    model: dict[str, Any]
    data: dict[str, Any]
    objective: dict[str, Any]
    stabilizers: dict[str, Any]
    train: dict[str, Any]
    metrics: MetricSettings
    run: RunSettings
    user: dict[str, Any]


def _builder(value: Any, key: str) -> Callable[[], nn.Module]:
    if isinstance(value, nn.Module) or not callable(value):
        raise ConfigError(f"train_gan({key}=...): got {type(value).__name__}; accepted: a function that "
                          f"builds the module, e.g. {key}=lambda: My{key}() (each seed builds its own "
                          "initial weights, and a resume builds them again)")
    return value


class DataSource:
    """Real batches on the device from a registered toy data set (by name), a tensor of examples
    (drawn with replacement) or a function `data(n, generator) -> (n, ...)`."""

    def __init__(self, data: Any, device: torch.device) -> None:
        from mixgan.data import GAN_DATA

        self.toy, self.tensor, self.fn = None, None, None
        if isinstance(data, str):
            self.toy = GAN_DATA[data]().to(device)  # unknown: one line naming the data sets
            self.record: dict[str, Any] = {"name": data}
        elif isinstance(data, Tensor):
            if data.dim() < 2 or not data.is_floating_point() or data.shape[0] < 1:
                raise ConfigError(f"train_gan(data=tensor {tuple(data.shape)} {data.dtype}); accepted: "
                                  "float examples (N, ...), N >= 1")
            self.tensor = data.to(device)
            self.record = {"name": "tensor", "shape": list(data.shape)}
        elif callable(data):
            self.fn = data
            self.record = {"name": getattr(data, "__qualname__", type(data).__name__)}
        else:
            raise ConfigError(f"train_gan(data={type(data).__name__}); accepted: a toy data set's name "
                              f"({', '.join(GAN_DATA)}), a float tensor (N, ...) or data(n, generator)")

    def sample(self, n: int, gen: torch.Generator) -> Tensor:
        if self.toy is not None:
            return self.toy.sample(n, MemberStreams([gen]))[0]
        if self.tensor is not None:
            idx = torch.randint(self.tensor.shape[0], (n,), generator=gen, device=self.tensor.device)
            return self.tensor[idx]
        out = self.fn(n, gen)
        if not isinstance(out, Tensor) or out.shape[0] != n:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ConfigError(f"train_gan(data=...): data({n}, generator) returned {got}; accepted: a "
                              f"tensor of {n} examples")
        return out.to(gen.device)  # a no-op where your function already draws on the run's device


class OwnGanTrainer:
    """A user's G and D as the loop's one-run trainer (trainers/loop.py's `Single` protocol)."""

    unit = "it"
    watch_keys = ("loss/D", "loss/G")

    def __init__(self, cfg: OwnGanConfig, G: Callable[[], nn.Module], D: Callable[[], nn.Module], data: Any,
                 loss: Any, evaluate: Callable[[nn.Module, int], Mapping[str, float]] | None,
                 device: torch.device) -> None:
        from mixgan.metrics.stability import probe_keys
        from mixgan.rundir.dashboard import gan_layout
        from mixgan.trainers.gan import make_adam

        self.cfg, self.device, self.loss, self.evaluate = cfg, device, loss, evaluate
        tr = cfg.train
        self.latent = tuple(tr["latent"])
        torch.manual_seed(cfg.seed)  # the initial weights are the seed's: G first, then D
        self.G, self.D = G().to(device), D().to(device)
        for key, m in (("G", self.G), ("D", self.D)):
            if not isinstance(m, nn.Module) or not any(True for _ in m.parameters()):
                raise ConfigError(f"train_gan({key}=...) built {type(m).__name__}; accepted: an nn.Module "
                                  "with parameters")
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        self.source = DataSource(data, device)
        self.gen = torch.Generator(device).manual_seed(cfg.seed)  # data, noise and the loss's draws
        lr_g, lr_d = tr["lr"] if isinstance(tr["lr"], list) else (tr["lr"], tr["lr"])  # lr=(G's, D's)
        self.opt_G, self.opt_D = (make_adam(m.parameters(), SimpleNamespace(lr=rate, beta1=tr["betas"][0],
                                                                            beta2=tr["betas"][1]), device)
                                  for m, rate in ((self.G, lr_g), (self.D, lr_d)))
        # An EMA of G's weights and buffers from its initial ones (the command's train.ema, trainers/gan.py)
        self.ema = float(tr.get("ema", 0.0))
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if self.ema > 0 else None
        self.probability = cfg.objective["loss"] == "bce"
        self.pack = int(cfg.stabilizers.get("pack", 1))
        layout = gan_layout(self.probability, self.G_ema is not None)
        if self.source.toy is None:  # the toy quality charts only where they are measured
            layout = {"Stability": layout["Stability"]}
        if evaluate is not None:  # everything else you log: one chart per name family
            layout["Yours"] = {"evaluate(G, step)": [r"^(?!loss/|stability/|quality/|final_large/)"]}
        self.dashboard = layout
        toy = ("quality/modes", "quality/high_quality", "quality/density", "quality/coverage",
               "final_large/density", "final_large/coverage") if self.source.toy is not None else ()
        if self.G_ema is not None and toy:
            toy = (*toy, "quality_ema/density", "quality_ema/coverage")
        self.summary_keys = (*toy, *WINDOW_KEYS[:2], *probe_keys(self.probability)[:3])
        self.fixed_z = torch.randn((64, *self.latent), device=device,
                                   generator=torch.Generator(device).manual_seed(cfg.seed + 1))
        self.step, self.total = 0, int(tr["steps"])
        self.window = torch.zeros(len(WINDOW_KEYS), device=device)
        self.window_n = 0
        self._reference: Any = None
        self.check_batches()

    def check_batches(self) -> None:
        """The batch contract, once, before any run dir is written (each failure one ConfigError line):
        finite data, G's output shaped as the data, D's output one number per input, and the loss's own
        checks (an even batch for the demo form, images for an image augmentation). On a batch of its own
        draws, with BN buffers and the global RNG put back: training is what it would be without it."""
        from mixgan.errors import first_line
        from mixgan.trainers.image_eval import preserve_buffers

        if self.source.tensor is not None and not bool(torch.isfinite(self.source.tensor).all()):
            bad = int((~torch.isfinite(self.source.tensor)).flatten(1).any(1).sum())
            raise ConfigError(f"train_gan(data=...): {bad} of {self.source.tensor.shape[0]} examples hold "
                              "NaN or Inf; accepted: finite data (a run would end diverged)")
        n = self.cfg.train["batch_size"] * self.loss.d_batches
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed + 2)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad(), preserve_buffers(self.G, self.D):
            real = self.source.sample(n, gen)
            if not bool(torch.isfinite(real).all()):
                raise ConfigError("train_gan(data=...): a batch holds NaN or Inf; accepted: finite data")
            z = self.noise(n, gen)
            try:
                fake = self.G(z)
            except Exception as err:
                raise ConfigError(f"train_gan: G failed on noise {tuple(z.shape)} ({first_line(err)}); "
                                  "accepted: latent= the shape of G's input per sample") from None
            if not isinstance(fake, Tensor) or fake.shape != real.shape:
                got = tuple(fake.shape) if isinstance(fake, Tensor) else type(fake).__name__
                raise ConfigError(f"train_gan: G's output is {got} but the data's batch is "
                                  f"{tuple(real.shape)}; accepted: G's output shaped as the data")
            self.loss.check_batches("d_loss", real, fake)
            try:
                out = self.critic(real)
            except Exception as err:
                raise ConfigError(f"train_gan: D failed on a data batch {tuple(real.shape)} "
                                  f"({first_line(err)}); accepted: a D that reads the data's shape") from None
            if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != n or out.numel() != n:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ConfigError(f"train_gan: D's output is {got} for {n} inputs; accepted: one number per "
                                  f"input, ({n}, 1) or ({n},)")

    def noise(self, n: int, gen: torch.Generator) -> Tensor:
        return torch.randn((n, *self.latent), generator=gen, device=self.device)

    def advance(self) -> None:
        """One iteration: `loss.d_steps` D updates, then one G update (device work only)."""
        from mixgan.metrics.stability import grad_norm

        loss, B, gen = self.loss, self.cfg.train["batch_size"], self.gen
        loss.at_step(self.step, self.total)
        n = B * loss.d_batches  # the demo form of mixup mixes two halves
        for _ in range(loss.d_steps):
            real = self.source.sample(n, gen)
            with torch.no_grad():  # no backprop through G in D's steps
                fake = self.G(self.noise(n, gen))
            loss_d = loss.d_loss(self.D, real, fake, gen)
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_D.step()
        gn_d = grad_norm(self.D)
        real, fake = self.source.sample(B, gen), self.G(self.noise(B, gen))
        for p in self.d_params:  # G's step needs ∂D/∂x, not D's weight gradients
            p.requires_grad_(False)
        loss_g = loss.g_loss(self.D, real, fake, gen)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        for p in self.d_params:
            p.requires_grad_(True)
        self.opt_G.step()
        self._update_ema()
        self.window += torch.stack([loss_d.detach(), loss_g.detach(), gn_d, grad_norm(self.G)])
        self.window_n += 1
        self.step += 1

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema ← decay·ema + (1 − decay)·θ after each G step, for G's weights and float buffers (batch-norm
        statistics; counters are copied), as the command's toy GAN does (no warm-up)."""
        if self.G_ema is None:
            return
        pairs = [(e, p) for e, p in zip(self.G_ema.parameters(), self.G.parameters())]
        torch._foreach_lerp_([e for e, _ in pairs], [p for _, p in pairs], 1 - self.ema)
        for e, b in zip(self.G_ema.buffers(), self.G.buffers()):
            if e.is_floating_point():
                e.lerp_(b, 1 - self.ema)
            else:
                e.copy_(b)

    def critic(self, x: Tensor) -> Tensor:
        """D on single points; with PacGAN-m, on m copies of each point side by side."""
        return self.D(x if self.pack == 1 else torch.cat([x] * self.pack, 1))

    def measure(self) -> dict[str, float]:
        """Window means, D's probes, the stabilizers' numbers, toy quality (toy data) and `evaluate`."""
        from mixgan.metrics.stability import probe_discriminator
        from mixgan.trainers.gan import eval_generator
        from mixgan.trainers.image_eval import preserve_buffers
        from mixgan.trainers.loop import due

        gen, B = eval_generator(self.cfg.seed, self.step, self.device), self.cfg.train["batch_size"]
        out: dict[str, Any] = dict(zip(WINDOW_KEYS, self.window / max(self.window_n, 1)))
        with preserve_buffers(*(m for m in (self.G, self.D, self.G_ema) if m is not None)):  # BN kept
            real = self.source.sample(B, gen)
            with torch.no_grad():
                fake = self.G(self.noise(B, gen))
            out.update(probe_discriminator(self.critic, real, fake, gen, probability=self.probability))
            if self.source.toy is not None:
                out.update(self._toy_quality(gen))
            if self.evaluate is not None:
                out.update(self._evaluate())
        out.update(self.loss.metrics())
        if due(self.cfg.metrics.every, self.step):  # off the cadence (a last unit): an extension goes on
            self.window.zero_()
            self.window_n = 0
        keys = list(out)
        values = torch.stack([torch.as_tensor(out[k], dtype=torch.float32, device=self.device).reshape(())
                              for k in keys]).tolist()  # the one host sync of a measurement
        return dict(zip(keys, values))

    @torch.no_grad()
    def _toy_quality(self, gen: torch.Generator) -> dict[str, Tensor]:
        from mixgan.trainers.gan import eval_generator

        mc, ref = self.cfg.metrics, self.toy_reference()
        out = {k: v[0] for k, v in ref.score(self.G(self.noise(mc.n_samples, gen))[None]).items()}
        if self.G_ema is not None:  # drawn after G's: a run without EMA has the same quality/* numbers
            ema = self.G_ema(self.noise(mc.n_samples, gen))[None]
            out.update({k: v[0] for k, v in ref.score(ema, "quality_ema/").items()})
        if self.step == self.total and mc.final_samples > 0:  # its own stream: the values above unchanged
            big = self.G(self.noise(mc.final_samples, eval_generator(self.cfg.seed, -1, self.device)))
            out.update({k: v[0] for k, v in ref.score(big[None], "final_large/").items()})
        return out

    def toy_reference(self) -> Any:
        """The fixed real sample of a toy data set (metrics/toy.py), the same for all its runs: made once."""
        from mixgan.metrics.toy import ToyReference

        mc = self.cfg.metrics
        if self._reference is None:
            key = (self.cfg.data["name"], mc.n_samples, mc.final_samples, str(self.device), mc.hq_sigmas)
            if key not in _REFERENCES:
                n_max = max(mc.n_samples, mc.final_samples)
                _REFERENCES[key] = ToyReference(self.source.toy, mc.n_samples, n_max, self.device,
                                                mc.hq_sigmas)
            self._reference = _REFERENCES[key]
        return self._reference

    def health(self, metrics: dict[str, float]) -> Any:
        """The verdict on a row (metrics/health.py) where the data is a toy data set; else None."""
        if self.source.toy is None:
            return None
        from mixgan.metrics.health import judge, references

        return judge(metrics, references(self.toy_reference(), self.cfg.metrics.n_samples), self.probability)

    def _evaluate(self) -> dict[str, Any]:
        values = self.evaluate(self.G, self.step)
        if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
            raise ConfigError(f"train_gan(evaluate=...): returned {type(values).__name__}; accepted: a "
                              "mapping of metric names to numbers")
        from mixgan.api.runlog import check_metric

        for name, value in values.items():  # the names and values run_logger accepts
            check_metric(name, value, f"train_gan(evaluate=...) at step {self.step}")
        return dict(values)

    def pictures(self, logger: Any) -> None:
        """2-D data: the fixed-noise samples over σ(D) (and final_samples.npy for compare's grid);
        images (N, C, H, W) in [-1, 1]: a grid. Other shapes: no picture."""
        from mixgan.rundir.paths import FINAL_SAMPLES, SAMPLES_PNG
        from mixgan.trainers.image_eval import preserve_buffers

        with torch.no_grad(), preserve_buffers(self.G):
            fake = self.G(self.fixed_z).float()
        last = self.step == self.total
        if fake.dim() == 2 and fake.shape[1] == 2:
            import numpy as np

            from mixgan.report.plots import toy_heatmap, toy_samples_figure

            real = self.source.sample(512, torch.Generator(self.device).manual_seed(self.cfg.seed))
            heat = toy_heatmap(self.critic, real, self.device) if self.probability else None
            title = f"{self.cfg.objective['name']}, step {self.step}"
            fig = toy_samples_figure(real.cpu(), fake.cpu(), heat, title)
            if last:
                np.save(logger.run_dir / FINAL_SAMPLES, fake.cpu().numpy())
                fig.savefig(logger.run_dir / SAMPLES_PNG)
            logger.figure("samples", fig, self.step)
        elif fake.dim() == 4 and fake.shape[1] in (1, 3):
            from torchvision.utils import make_grid, save_image

            grid = make_grid(fake.add(1).div(2).clamp(0, 1).cpu(), nrow=8, padding=1, pad_value=1.0)
            logger.tb(logger.writer.add_image, "samples", grid, self.step)
            if last:
                save_image(grid, logger.run_dir / SAMPLES_PNG)

    def state_dict(self) -> dict[str, Any]:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_G": self.opt_G.state_dict(),
                "opt_D": self.opt_D.state_dict(), "loss": self.loss.state_dict(), "window": self.window,
                "window_n": self.window_n,
                **({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
                "rng": {"gen": self.gen.get_state(), "torch_cpu": torch.get_rng_state()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.loss.load_state_dict(state["loss"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.window.copy_(state["window"])
        self.window_n = int(state["window_n"])
        self.gen.set_state(state["rng"]["gen"])
        torch.set_rng_state(state["rng"]["torch_cpu"])  # dropout and the like in your modules
