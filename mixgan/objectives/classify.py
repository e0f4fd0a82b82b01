"""Classifier objectives: ERM and mixup (Zhang et al. 2018, Eq. 1 and §3.1), with the ablation
options of the paper's Table 5 (pairing, KNN partners, inputs-only mixing, hidden-layer mixing,
label smoothing, Gaussian input noise). The trainer only calls the objective; it never asks "if mixup".

Notation: f the network, CE_ε cross-entropy with label smoothing ε, x̃ = λ·x_i + (1−λ)·x_j.
    erm:    ℓ = Σ_i CE_ε(f(x_i + σ·n_i), y_i)
    mixup:  ℓ = Σ_i λ_i·CE_ε(f(x̃_i), y_i) + (1−λ_i)·CE_ε(f(x̃_i), y_j)      (mix_labels)
            ℓ = Σ_i CE_ε(f(x̃_i), y_i)                                    (inputs only)
Both return sums over the batch (the trainer divides by the global batch size, which keeps
multi-process runs equal to single-process ones) and the λ-weighted number of correct predictions
Σ_i λ_i·[ŷ_i = y_i] + (1−λ_i)·[ŷ_i = y_j] (official mixup-cifar10 train accuracy).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.mixup import mix, partner_index, sample_lambda


class StepOut(NamedTuple):
    """Sums over the batch: loss (with graph) and λ-weighted correct predictions (detached)."""

    loss: Tensor
    correct: Tensor


def pair_index(y: Tensor, pairing: str, gen: torch.Generator) -> Tensor:
    """In-batch partners: a random permutation (RP), or a random other example of the same class
    (SC) or of another class; an example with no allowed partner is paired with itself (ERM)."""
    n = y.shape[0]
    if pairing == "random":
        return partner_index(n, gen)
    same = y[:, None] == y[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=y.device)
    allowed = (same & ~eye) if pairing == "same_class" else ~same
    # A uniform random score per candidate; argmax over the allowed ones is a uniform choice.
    score = torch.rand(n, n, generator=gen, device=gen.device).to(y.device).masked_fill(~allowed, -1.0)
    best = score.argmax(dim=1)
    return torch.where(allowed.any(dim=1), best, torch.arange(n, device=y.device))


def knn_table(x: Tensor, y: Tensor, k: int, pairing: str = "random", chunk: int = 1024) -> Tensor:
    """(N, k) indices of each training example's k nearest neighbours (L2 on flattened inputs,
    excluding itself), restricted to the same or other classes by `pairing` (paper Table 5, KNN)."""
    flat = x.flatten(1).float()
    sq = (flat * flat).sum(1)
    out = []
    for start in range(0, flat.shape[0], chunk):
        rows = slice(start, start + chunk)
        d = sq[rows, None] - 2 * flat[rows] @ flat.T + sq[None, :]
        d[torch.arange(d.shape[0]), torch.arange(start, start + d.shape[0])] = float("inf")
        if pairing != "random":
            same = y[rows, None] == y[None, :]
            d = d.masked_fill(~same if pairing == "same_class" else same, float("inf"))
        out.append(d.topk(min(k, flat.shape[0] - 1), dim=1, largest=False).indices)
    return torch.cat(out)


def _ce(logits: Tensor, y: Tensor, eps: float) -> Tensor:
    # Per-example cross-entropy in float32 (logits may be bf16 under autocast).
    return F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=eps)


class Erm:
    """Empirical risk minimization: cross-entropy on the (noisy, if input_noise > 0) batch."""

    needs_partners = False
    reads = ("label_smoothing", "input_noise")  # objective keys it reads (compare's grouping, HParams)

    def __init__(self, label_smoothing: float = 0.0, input_noise: float = 0.0) -> None:
        self.eps, self.noise = label_smoothing, input_noise

    def _noisy(self, x: Tensor, gen: torch.Generator) -> Tensor:
        if self.noise == 0:
            return x
        # x + σ·n, n ~ N(0, I) (paper Table 5, "add Gaussian noise to inputs")
        return x + self.noise * torch.randn(x.shape, generator=gen, device=gen.device).to(x.device)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator,
                 partner: tuple[Tensor, Tensor] | None = None) -> StepOut:
        logits = model(self._noisy(x, gen))
        # ℓ = Σ_i CE_ε(f(x_i), y_i)
        loss = _ce(logits, y, self.eps).sum()
        return StepOut(loss, (logits.argmax(1) == y).sum().float().detach())


class Mixup(Erm):
    """mixup (paper Eq. 1): λ ~ Beta(α, α), one per batch by default; partner by randperm."""

    reads = ("alpha", "lam", "per_sample", "pairing", "neighbors", "mix_labels", "mix_layer",
             "label_smoothing", "input_noise")

    def __init__(self, alpha: float = 1.0, lam: str = "beta", per_sample: bool = False,
                 pairing: str = "random", neighbors: int = 0, mix_labels: bool = True, mix_layer: int = 0,
                 label_smoothing: float = 0.0, input_noise: float = 0.0) -> None:
        super().__init__(label_smoothing, input_noise)
        self.alpha, self.law, self.per_sample = alpha, lam, per_sample
        self.pairing, self.mix_labels, self.mix_layer = pairing, mix_labels, mix_layer
        self.needs_partners = neighbors > 0  # the trainer passes KNN partners drawn from the data set

    def sample_lambda(self, n: int, gen: torch.Generator) -> Tensor:
        return sample_lambda(n, self.alpha, self.law, self.per_sample, gen)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator,
                 partner: tuple[Tensor, Tensor] | None = None) -> StepOut:
        lam = self.sample_lambda(x.shape[0], gen).to(x.device)
        if partner is not None:  # KNN partners from the data set: mixed at the input
            xb, yb = partner
            logits = model(self._noisy(mix(x, xb, lam), gen))  # x̃ = λ·x_i + (1−λ)·x_j
        else:
            idx = pair_index(y, self.pairing, gen).to(x.device)
            yb = y[idx]
            if self.mix_layer == 0:
                logits = model(self._noisy(mix(x, x[idx], lam), gen))
            else:  # h̃ = λ·h_i + (1−λ)·h_j at hidden layer k (the models' mix hook)
                logits = model(self._noisy(x, gen), mix_layer=self.mix_layer,
                               mix_fn=lambda h: mix(h, h[idx], lam))
        ce_a = _ce(logits, y, self.eps)
        if not self.mix_labels:
            # inputs only: ℓ = Σ_i CE_ε(f(x̃_i), y_i)
            return StepOut(ce_a.sum(), (logits.argmax(1) == y).sum().float().detach())
        # ℓ = Σ_i λ_i·CE_ε(f(x̃_i), y_i) + (1−λ_i)·CE_ε(f(x̃_i), y_j)
        loss = (lam * ce_a + (1 - lam) * _ce(logits, yb, self.eps)).sum()
        pred = logits.argmax(1)
        correct = (lam * (pred == y) + (1 - lam) * (pred == yb)).sum()
        return StepOut(loss, correct.detach())


CLASSIFY_OBJECTIVES = {"erm": Erm, "mixup": Mixup}


def make_classify_objective(cfg: Any) -> Erm | Mixup:
    """The objective named by the config's `objective` section."""
    if cfg.name == "erm":
        return Erm(cfg.label_smoothing, cfg.input_noise)
    return Mixup(cfg.alpha, cfg.lam, cfg.per_sample, cfg.pairing, cfg.neighbors, cfg.mix_labels,
                 cfg.mix_layer, cfg.label_smoothing, cfg.input_noise)
