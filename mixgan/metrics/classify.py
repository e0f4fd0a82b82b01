"""Classifier metrics as pure functions of logits and labels: top-k error, expected calibration
error (ECE), and the paper's Figure 2 measurements between training examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def topk_correct(logits: Tensor, y: Tensor, k: int = 1) -> Tensor:
    """Number of rows whose label is among the k largest logits (a 0-dim tensor, no host sync)."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return (top == y[:, None]).any(dim=1).sum()


def topk_error(logits: Tensor, y: Tensor, k: int = 1) -> Tensor:
    """Fraction of rows whose label is not among the k largest logits."""
    return 1.0 - topk_correct(logits, y, k).float() / y.shape[0]


def calibration_bins(logits: Tensor, y: Tensor, bins: int = 15) -> Tensor:
    """Per confidence bin: (count, Σ confidence, Σ correct), shape (3, bins).

    Bins split [0, 1] into `bins` equal intervals (lo, hi] of the top-1 probability, as in Guo et
    al. 2017. Sums, not means, so that shards and batches can simply be added before `ece_from_bins`.
    """
    prob = F.softmax(logits.float(), dim=1)
    conf, pred = prob.max(dim=1)
    correct = (pred == y).float()
    idx = (conf * bins).ceil().long().clamp(1, bins) - 1  # (lo, hi] bins; conf = 0 is impossible
    out = torch.zeros(3, bins, device=logits.device)
    out[0].index_add_(0, idx, torch.ones_like(conf))
    out[1].index_add_(0, idx, conf)
    out[2].index_add_(0, idx, correct)
    return out


def ece_from_bins(stats: Tensor) -> Tensor:
    """ECE = Σ_b (n_b / n) · |acc_b − conf_b| = Σ_b |Σcorrect_b − Σconf_b| / n."""
    return (stats[2] - stats[1]).abs().sum() / stats[0].sum().clamp_min(1)


def ece(logits: Tensor, y: Tensor, bins: int = 15) -> Tensor:
    """Expected calibration error (a fraction in [0, 1]) of softmax(logits) against y."""
    return ece_from_bins(calibration_bins(logits, y, bins))


def between_examples(
    model: nn.Module, xa: Tensor, ya: Tensor, xb: Tensor, yb: Tensor, lams: Tensor
) -> tuple[Tensor, Tensor]:
    """Paper Figure 2 along the segments x = λ·x_a + (1−λ)·x_b, for each λ in `lams`.

    Returns (miss, grad): miss[l] is the fraction of pairs whose prediction at λ_l is neither y_a
    nor y_b (Fig. 2a: a "miss"); grad[l] is the mean over pairs of ‖∂ℓ/∂x‖₂, the gradient of the
    loss ℓ = λ·CE(f(x), y_a) + (1−λ)·CE(f(x), y_b) with respect to the input (Fig. 2b).
    The model is used as given (call .eval() first); its parameters get no gradient.
    """
    miss, grad = [], []
    for lam in lams.tolist():
        x = (lam * xa + (1 - lam) * xb).detach().requires_grad_(True)
        logits = model(x)
        loss = lam * F.cross_entropy(logits, ya, reduction="sum") + (1 - lam) * F.cross_entropy(
            logits, yb, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        pred = logits.argmax(1)
        miss.append(((pred != ya) & (pred != yb)).float().mean())
        grad.append(g.flatten(1).norm(dim=1).mean())
    return torch.stack(miss), torch.stack(grad)


def between_pairs(x: Tensor, y: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """n fixed random pairs of training examples from different classes (for Figure 2)."""
    gen = torch.Generator().manual_seed(seed)
    i = torch.randint(0, x.shape[0], (4 * n,), generator=gen).to(x.device)
    j = torch.randint(0, x.shape[0], (4 * n,), generator=gen).to(x.device)
    keep = (y[i] != y[j]).nonzero().flatten()[:n]
    i, j = i[keep], j[keep]
    return x[i], y[i], x[j], y[j]


def pca_2d(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and top-2 principal directions (D, 2) of features (N, D), via torch.pca_lowrank."""
    mean = features.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(features - mean, q=min(2, *features.shape), center=False, niter=4)
    return mean, v[:, :2]
