"""The classifier trainer (ERM or mixup, paper §3.1–3.5): one unit = one epoch, test metrics every
`metrics.every` epochs, multi-process under torchrun with DistributedDataParallel.

Randomness is a function of (seed, epoch, rank): the batch order comes from one permutation seeded
by (seed, epoch) on every rank, augmentation/λ/partners/dropout from (seed, epoch, rank). Resuming
at an epoch boundary is therefore exact on every rank, with nothing but weights and optimizer saved.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import Tensor

from mixgan.data.augment import augment
from mixgan.data.checks import check_input_size
from mixgan.data.classify import NORMALIZATION, load_classify_data
from mixgan.metrics.classify import (
    between_examples,
    between_pairs,
    calibration_bins,
    ece_from_bins,
    topk_correct,
)
from mixgan.models.classify import make_classifier
from mixgan.objectives.classify import Erm, knn_table, make_classify_objective
from mixgan.rundir.logger import RunLogger
from mixgan.trainers import distributed as dist


def seed_of(*parts: int) -> int:
    """A 63-bit seed from integers (seed, stream, epoch, ...), different for each tuple."""
    s = 0
    for p in parts:
        s = (s * 1_000_003 + p + 1) % (2**63 - 1)
    return s


def step_or_diverge(opt: torch.optim.Optimizer) -> bool:
    """opt.step(); False, with every weight set to NaN so that the run ends as `diverged`, when the
    update itself overflows float32 (e.g. lr=1e38: Adam's step lr/(1-β1) is past float32's 3.4e38,
    which torch reports as a RuntimeError rather than an Inf)."""
    try:
        opt.step()
        return True
    except RuntimeError as err:
        if "without overflow" not in str(err):
            raise
    with torch.no_grad():
        for group in opt.param_groups:
            for p in group["params"]:
                p.fill_(math.nan)
    return False


def lr_at(epoch: float, cfg: Any) -> float:
    """Step schedule: lr · γ^(number of milestones ≤ epoch) (official code: ÷10 at 100 and 150),
    after a linear warm-up from warmup_lr over the first warmup_epochs (Goyal et al. 2017, §2.2;
    the paper's ImageNet runs: 0.1 → 0.4 in 5 epochs). `epoch` may be fractional: step i of n of
    epoch e is at e + i/n."""
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * epoch / cfg.warmup_epochs
    return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


class ClassifierTrainer:
    """Classifier state (model, optimizer, data on the device) and its one-epoch step."""

    unit = "epoch"
    watch_keys = ("train/loss", "test/loss")
    summary_keys = ("test/error", "test/error_best", "test/error_top5", "val/error", "test/ece", "test/loss",
                    "train/loss", "train/acc", "train/memorized")
    dashboard = {"Classifier": {  # TensorBoard custom-scalars layout (mixgan/rundir/dashboard.py)
        "test error (%): last and best": [r"^test/error$", r"^test/error_best$", r"^test/error_top5$"],
        "validation error (%)": [r"^val/error$"],
        "loss: train (mixed targets) and test": [r"^train/loss$", r"^test/loss$"],
        "train accuracy (λ-weighted, %)": [r"^train/acc$"], "calibration: ECE (%)": [r"^test/ece$"],
        "corrupted training labels fitted (%)": [r"^train/memorized$"], "learning rate": [r"^lr$"]}}

    def __init__(self, cfg: Any, device: torch.device) -> None:
        self.rank, self.world, device = dist.init(device)
        self.cfg, self.device = cfg, device
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its kernels
        self.data = load_classify_data(cfg.data, cfg.seed, device).to(device)
        torch.manual_seed(cfg.seed)  # parameter init, identical on every rank
        self.model = make_classifier(cfg.model, self.data.in_shape, self.data.num_classes,
                                     NORMALIZATION.get(cfg.data.name)).to(device)
        check_input_size(self.model, self.data.in_shape, f"model.name={cfg.model.name}")  # before training
        self.channels_last = self.cuda and cfg.train.channels_last and self.data.is_image
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[device.index] if self.cuda else None)
        t = cfg.train
        if t.optimizer == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(
                self.model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.objective = make_classify_objective(cfg.objective)
        # The first objective.erm_epochs epochs train on the original examples (paper §3.3: "a warm-up
        # period of five epochs ... since we find it speeds up initial convergence").
        self.erm = Erm(cfg.objective.label_smoothing, cfg.objective.input_noise)
        self.neighbors = None
        if self.objective.needs_partners:  # KNN partners (paper Table 5), computed once
            self.neighbors = knn_table(self.data.x_train, self.data.y_train, cfg.objective.neighbors,
                                       cfg.objective.pairing)
        self.step, self.total = 0, t.epochs
        self.best = math.inf
        self.lr = lr_at(0, t)
        self.window = torch.zeros(3, device=device)  # Σ loss, Σ λ-weighted correct, examples

    # -- the hot path -------------------------------------------------------------------------
    def _autocast(self) -> Any:
        if self.cuda and self.cfg.train.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _images(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(self, epoch: int) -> list[Tensor]:
        """Global batches of the epoch: one seeded permutation, the same on every rank."""
        perm = torch.randperm(self.data.n_train, generator=torch.Generator().manual_seed(
            seed_of(self.cfg.seed, 0, epoch)))
        return dist.epoch_batches(perm, self.cfg.train.batch_size, min_last=self.world)

    def _fetch(self, idx: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        x, y = self.data.x_train[idx], self.data.y_train[idx]
        if self.cfg.data.augment:  # official CIFAR augmentation, batched on the device
            x = augment(x, gen, self.cfg.data.pad, self.cfg.data.flip)
        return self._images(x), y

    def _local_batches(self, epoch: int, gen: torch.Generator) -> Any:
        """(x, y, local indices, global batch size) of this rank's shard of every batch."""
        batches = self.batches(epoch)
        shards = [dist.shard(b, self.rank, self.world) for b in batches]
        if self.data.x_train is not None:
            # One host→device copy of the epoch's indices: a per-batch copy of pageable memory
            # would synchronize the host with the device at every step.
            on_device = torch.cat(shards).to(self.device).split([s.numel() for s in shards])
            for b, idx in zip(batches, on_device):
                yield (*self._fetch(idx, gen), idx, b.numel())
            return
        loader = torch.utils.data.DataLoader(
            self.data.train_set, batch_sampler=[s.tolist() for s in shards],
            num_workers=self.cfg.data.workers, pin_memory=self.cuda,
            generator=torch.Generator().manual_seed(seed_of(self.cfg.seed, 2, epoch, self.rank)))
        for b, (x, y) in zip(batches, loader):
            yield self._images(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True), \
                None, b.numel()

    def advance(self) -> None:
        """One epoch: lr for this epoch, then one optimizer step per global batch."""
        epoch, t = self.step, self.cfg.train
        self._set_lr(lr_at(epoch, t))
        objective = self.erm if epoch < self.cfg.objective.erm_epochs else self.objective
        steps = len(self.batches(epoch)) if epoch < t.warmup_epochs else 0
        self.net.train()
        torch.manual_seed(seed_of(self.cfg.seed, 1, epoch, self.rank))  # dropout masks, folder transforms
        gen = torch.Generator(self.device).manual_seed(seed_of(self.cfg.seed, 3, epoch, self.rank))
        for i, (x, y, idx, n_global) in enumerate(self._local_batches(epoch, gen)):
            if steps:  # the warm-up moves the lr at every step
                self._set_lr(lr_at(epoch + i / steps, t))
            partner = None
            if self.neighbors is not None and objective.needs_partners:  # one of the k nearest neighbours
                pick = torch.randint(0, self.neighbors.shape[1], idx.shape, generator=gen, device=gen.device)
                partner = self._fetch(self.neighbors[idx, pick.to(idx.device)], gen)
            with self._autocast():
                out = objective(self.net, x, y, gen, partner)
            # Σ_local / n_global, times world because DDP averages gradients over ranks: the
            # gradient is that of the global batch mean, whatever the shard sizes.
            loss = out.loss * (self.world / n_global)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            stepped = step_or_diverge(self.opt)
            count = torch.full((), float(y.shape[0]), device=self.device)  # no host-to-device copy
            self.window += torch.stack([out.loss.detach().float() if stepped else count * math.nan,
                                        out.correct.float(), count])
        dist.sync_stop(self.world, self.device)
        self.step += 1

    def _set_lr(self, lr: float) -> None:
        self.lr = lr
        for group in self.opt.param_groups:
            group["lr"] = lr

    # -- measurements -------------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, x: Tensor | None, y: Tensor | None, dataset: Any = None) -> Tensor:
        """This rank's sums over its shard: [Σ loss, top-1 correct, top-5 correct, n, calibration bins]."""
        bs, bins = self.cfg.metrics.eval_batch_size, self.cfg.metrics.ece_bins
        n = len(dataset) if x is None else x.shape[0]
        mine = dist.shard(torch.arange(n), self.rank, self.world)
        if x is not None:
            parts: Any = ((x[i], y[i]) for i in mine.to(self.device).split(bs))
        else:
            parts = torch.utils.data.DataLoader(
                torch.utils.data.Subset(dataset, mine.tolist()), batch_size=bs,
                num_workers=self.cfg.data.workers, pin_memory=self.cuda)
        sums = torch.zeros(4 + 3 * bins, device=self.device)
        for xb, yb in parts:
            xb, yb = self._images(xb.to(self.device)), yb.to(self.device)
            with self._autocast():
                logits = self.model(xb).float()
            sums += torch.cat([torch.stack([
                torch.nn.functional.cross_entropy(logits, yb, reduction="sum"), topk_correct(logits, yb, 1),
                topk_correct(logits, yb, 5), torch.full((), float(yb.shape[0]), device=self.device)]),
                calibration_bins(logits, yb, bins).flatten()])
        return sums

    @staticmethod
    def metric_names(cfg: Any) -> set[str]:
        """The names `measure` can report for `cfg` (a sweep's `metrics:` is checked against them):
        top-5 error unless the data has at most 5 classes (the tabular and 2-D sets), memorization with
        corrupted labels held in memory, validation metrics where the data has a validation split
        (speech_commands)."""
        from mixgan.data.classify import VECTOR_DATA

        names = {"train/loss", "train/acc", "test/loss", "test/error", "test/ece", "test/error_best", "lr"}
        if cfg.data.name not in VECTOR_DATA:
            names.add("test/error_top5")
        if cfg.data.corrupt > 0 and cfg.data.name != "imagefolder":
            names.add("train/memorized")
        if cfg.data.name == "speech_commands":
            names |= {"val/loss", "val/error"}
        return names

    def measure(self) -> dict[str, float]:
        """Train window means and test metrics (errors in %), summed over ranks: one host sync."""
        self.model.eval()
        d = self.data
        test = self._evaluate(d.x_test, d.y_test, d.test_set)
        parts = [self.window, test]
        if d.x_val is not None:  # a validation split besides the test split (speech_commands)
            parts.append(self._evaluate(d.x_val, d.y_val)[:4])
        if d.corrupted is not None and d.x_train is not None:  # memorization of the random labels
            parts.append(self._evaluate(d.x_train[d.corrupted], d.y_train[d.corrupted])[1:2])
        sums = dist.all_sum(torch.cat(parts), self.world).tolist()
        self.window.zero_()
        bins = self.cfg.metrics.ece_bins
        w, t, rest = sums[:3], sums[3:7 + 3 * bins], sums[7 + 3 * bins:]
        val = {}
        if d.x_val is not None:
            v, rest = rest[:4], rest[4:]
            val = {"val/loss": v[0] / max(v[3], 1.0), "val/error": 100 * (1 - v[1] / max(v[3], 1.0))}
        n = max(t[3], 1.0)
        out = {"train/loss": w[0] / max(w[2], 1.0), "train/acc": 100 * w[1] / max(w[2], 1.0),
               "test/loss": t[0] / n, "test/error": 100 * (1 - t[1] / n)}
        if d.num_classes > 5:
            out["test/error_top5"] = 100 * (1 - t[2] / n)
        out["test/ece"] = 100 * float(ece_from_bins(torch.tensor(t[4:]).view(3, bins)))
        if rest:  # % of the corrupted training examples predicted as their random label
            out["train/memorized"] = 100 * rest[0] / max(int(d.corrupted.sum()), 1)
        self.best = min(self.best, out["test/error"])
        out["test/error_best"] = self.best
        out["lr"] = self.lr
        return {**out, **val}

    def pictures(self, logger: RunLogger) -> None:
        """Figure 1b (2-D data: P(y=1|x)) and Figure 2 (misses and ‖∇ₓ loss‖ between examples)."""
        from mixgan.report.plots_classify import between_figure, decision_figure

        d, name = self.data, self.cfg.objective.name
        if d.x_train is None:
            return
        self.model.eval()
        if d.in_shape == (2,) and d.num_classes == 2:
            fig = decision_figure({name: self.model}, d.x_train, d.y_train)
            logger.figure("pictures/decision", fig, self.step)
        xa, ya, xb, yb = between_pairs(d.x_train, d.y_train, 256, seed_of(self.cfg.seed, 4))
        lams = torch.linspace(0, 1, 11)
        curves = between_examples(self.model, xa, ya, xb, yb, lams)
        fig = between_figure(lams, {name: tuple(c.cpu() for c in curves)})
        logger.figure("pictures/between", fig, self.step)

    # -- checkpointing and worker ranks --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "best": self.best,
                "window": self.window}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.best = float(state["best"])
        self.window = state["window"].to(self.device)

    def run_worker(self) -> dict[str, Any]:
        """Ranks > 0 under torchrun: the same units as rank 0, writing nothing (trainers/loop.py)."""
        from mixgan.trainers.loop import run_worker

        return run_worker(self)

