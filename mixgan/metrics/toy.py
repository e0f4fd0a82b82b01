"""Quality metrics for toy mixtures: the VEEGAN / PacGAN protocol (modes, high quality, reverse KL) and
the ones that tell coverage from blur (density and coverage, sliced W1, log-likelihood under the mixture)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def mode_stats(samples: Tensor, means: Tensor, std: float, hq_sigmas: float = 3.0) -> dict[str, Tensor]:
    """Quality of `samples` (N, 2), or of S members' samples at once (S, N, 2), against a mixture with
    `means` (K, 2) and one `std`.

    A sample is high quality when it lies within hq_sigmas·std of its nearest mean; a mode is
    captured when at least one high-quality sample is nearest to it; the reverse KL is
    KL(q ‖ uniform) with q the histogram of high-quality samples over the K modes (0 when they
    spread evenly, log K when all fall in one mode; log K too when there is no high-quality sample).
    Returns 0-dim tensors, or (S,) tensors for stacked samples (no host sync here).
    """
    if samples.dim() == 2:
        return {k: v[0] for k, v in mode_stats(samples[None], means, std, hq_sigmas).items()}
    k = means.shape[0]
    dist = _cdist(samples.float(), means.float()[None].expand(samples.shape[0], -1, -1))  # (S, N, K)
    nearest_d, nearest = dist.min(2)
    hq = nearest_d <= hq_sigmas * std  # NaN samples compare False: never high quality
    counts = torch.zeros(samples.shape[0], k, device=samples.device).scatter_add_(1, nearest, hq.float())
    total = counts.sum(1, keepdim=True)
    q = counts / total.clamp_min(1)
    # Σ q log(q·K), with 0·log 0 = 0
    kl = torch.where(q > 0, q * torch.log(q * k), torch.zeros_like(q)).sum(1)
    kl = torch.where(total[:, 0] > 0, kl, torch.full_like(kl, math.log(k)))
    return {
        "quality/modes": (counts > 0).sum(1).float(),
        "quality/high_quality": hq.float().mean(1),
        "quality/reverse_kl": kl,
    }


# -- Metrics that tell coverage from blur (docs/results.md, "Reading the quality metrics") ----------
NEAREST_K = 5  # Naeem et al. 2020 use k = 5
REAL_SEED = 171009412  # the fixed real sample's seed (the mixup paper's arXiv number): one for every run
SLICES = 32  # directions of the sliced W1, evenly spaced over [0, π) (a quadrature, no random draw)
_CHUNK = 1 << 23  # distance-matrix entries computed at once (32 MiB of float32)


def project(points: Tensor, dirs: Tensor) -> Tensor:
    """Points (..., 2) projected on directions (P, 2) → (..., P), as elementwise products: a matmul
    would batch members into one GEMM, whose rows a BLAS may round differently with the batch's size
    (a member's metrics must not depend on its stack: docs/design.md, "Randomness")."""
    return points[..., :1] * dirs[:, 0] + points[..., 1:] * dirs[:, 1]


def _cdist(a: Tensor, b: Tensor) -> Tensor:
    # 2-D points: exact differences, not ‖a‖² + ‖b‖² − 2ab: with σ = 0.01 at |x| ≈ 1 the matmul form
    # loses the digits the k-NN radii are made of, and in 2-D the direct form is cheap. Feature vectors
    # (image GANs, ~200 dimensions): the matmul form, as prdc (scikit-learn) and torch-fidelity take it;
    # the direct one took 16x as long there (6.4 s against 0.4 s for 5,000 × 5,000 × 192, one thread).
    mode = "donot_use_mm_for_euclid_dist" if a.shape[-1] <= 2 else "use_mm_for_euclid_dist"
    return torch.cdist(a, b, compute_mode=mode)


def knn_radii(real: Tensor, k: int = NEAREST_K) -> Tensor:
    """Each real point's distance to its k-th nearest other real point (M,) (prdc's radii), for points
    (M, D); with M ≤ k points, to the farthest other one (a tiny `metrics.n_samples` still scores)."""
    k = min(k, real.shape[0] - 1)
    if k < 1:
        return torch.zeros(real.shape[0], device=real.device)
    step = max(1, _CHUNK // real.shape[0])
    return torch.cat([_cdist(real[i:i + step], real).topk(k + 1, dim=1, largest=False).values[:, k]
                      for i in range(0, real.shape[0], step)])


def density_coverage(samples: Tensor, real: Tensor, radii: Tensor,
                     k: int = NEAREST_K) -> tuple[Tensor, Tensor]:
    """Density and coverage (Naeem et al. 2020, §3) of S members' samples (S, N, D) against one real
    sample (M, D) with its k-NN radii (M,); returns two (S,) tensors. D = 2 for the toy mixtures; the
    image GANs pass feature vectors (metrics/fidelity.py, the features of FID/KID).

    density = 1/(kN) Σ_j Σ_i 1[‖F_j − R_i‖ < r_i] (1 for the data itself; blur and noise fall outside
    the balls), coverage = 1/M Σ_i 1[min_j ‖F_j − R_i‖ < r_i] (the share of real balls hit: one mode
    covers 1/K). Strict `<` as in prdc. Chunked over N; a non-finite sample is in no ball.
    """
    S, N = samples.shape[:2]
    samples = torch.where(torch.isfinite(samples), samples.float(), torch.full_like(samples.float(), 1e30))
    hits = torch.zeros(S, device=samples.device)
    nearest = torch.full((S, real.shape[0]), math.inf, device=samples.device)
    step = max(1, _CHUNK // (S * real.shape[0]))
    for i in range(0, N, step):
        d = _cdist(samples[:, i:i + step], real.float()[None].expand(S, -1, -1))  # (S, n, M)
        nearest = torch.minimum(nearest, d.amin(1))
        hits += d.neg_().add_(radii).clamp_(min=0).sign_().sum((1, 2))  # Σ 1[d < r], in place: fast
    return hits / (k * N), (nearest < radii).float().mean(1)


def directions(slices: int = SLICES, device: torch.device | str = "cpu") -> Tensor:
    """(P, 2) unit vectors at angles jπ/P."""
    t = torch.arange(slices, dtype=torch.float64) * (math.pi / slices)
    return torch.stack([torch.cos(t), torch.sin(t)], 1).float().to(device)


def sliced_w1(samples: Tensor, real_sorted: Tensor, dirs: Tensor) -> Tensor:
    """Sliced Wasserstein-1 distance (S,) between S members' samples (S, N, 2) and a real sample of the
    same size, given as its sorted projections (P, N) on `dirs` (P, 2): the mean over directions of the
    1-D W1 between the projections (sorted values matched in order). A lower bound of W1, a metric on
    distributions; inf when a sample is not finite."""
    proj = project(samples.float(), dirs).transpose(1, 2).sort(2).values  # (S, P, N)
    w = (proj - real_sorted[None]).abs().mean((1, 2))
    return torch.where(torch.isfinite(samples).all(2).all(1), w, torch.full_like(w, math.inf))


def mixture_loglik(samples: Tensor, means: Tensor, std: float) -> Tensor:
    """Mean log-density (S,) of samples (S, N, 2) under the true mixture (equal weights, isotropic std),
    as PacGAN's toy code logs it: log Σ_k N(x; μ_k, σ²I)/K; −inf for a non-finite sample."""
    d2 = _cdist(samples.float(), means.float()[None].expand(samples.shape[0], -1, -1)) ** 2  # (S, N, K)
    logp = (torch.logsumexp(-d2 / (2 * std**2), 2) - math.log(means.shape[0])
            - math.log(2 * math.pi * std**2))
    return logp.nan_to_num(nan=-math.inf).mean(1)


class ToyReference:
    """The fixed real sample every toy score is measured against (the same for every run of a data set):
    `n_real` points (k-NN balls of density/coverage) and `n_max` for the sliced W1, drawn once from
    REAL_SEED; `score` gives every quality metric of S members' samples (S, N ≤ n_max, 2) at once."""

    def __init__(self, data: Any, n_real: int = 2500, n_max: int = 2500, device: torch.device | str = "cpu",
                 hq_sigmas: float = 3.0) -> None:
        from mixgan.streams import MemberStreams

        self.data, self.hq_sigmas = data, hq_sigmas
        gen = torch.Generator(device).manual_seed(REAL_SEED)
        self.real = data.sample(max(n_real, n_max), MemberStreams([gen]))[0]
        self.radii = knn_radii(self.real[:n_real])
        self.n_real = n_real
        self.dirs = directions(SLICES, device)
        self._sorted: dict[int, Tensor] = {}

    def real_sorted(self, n: int) -> Tensor:
        """The first n real points' sorted projections (P, n), computed once per n."""
        if n not in self._sorted:
            if n > self.real.shape[0]:
                raise ValueError(f"sliced W1 of {n} samples against {self.real.shape[0]} real points")
            self._sorted[n] = project(self.real[:n], self.dirs).sort(0).values.T.contiguous()
        return self._sorted[n]

    def score(self, samples: Tensor, prefix: str = "quality/") -> dict[str, Tensor]:
        """modes / high_quality / reverse_kl (PacGAN protocol), density, coverage, sliced_w1, loglik.

        Member by member: a reduction to one value per member is split over the threads at S = 1 and
        not in a stack (see StackedMLP.grad_norms), and a member's numbers must not depend on S."""
        if samples.dim() == 3 and samples.shape[0] > 1:
            per_member = [self.score(x[None], prefix) for x in samples]
            return {k: torch.cat([m[k] for m in per_member]) for k in per_member[0]}
        out = {k.replace("quality/", prefix): v for k, v in
               mode_stats(samples, self.data.means, self.data.std, self.hq_sigmas).items()}
        dens, cov = density_coverage(samples, self.real[:self.n_real], self.radii)
        out.update({f"{prefix}density": dens, f"{prefix}coverage": cov,
                    f"{prefix}sliced_w1": sliced_w1(samples, self.real_sorted(samples.shape[1]), self.dirs),
                    f"{prefix}loglik": mixture_loglik(samples, self.data.means, self.data.std)})
        return out


QUALITY = ("modes", "high_quality", "reverse_kl", "density", "coverage", "sliced_w1", "loglik")
# Which way is better, for the verdicts against the noise reference: +1 higher, −1 lower.
BETTER = {"modes": 1, "high_quality": 1, "reverse_kl": -1, "density": 1, "coverage": 1, "sliced_w1": -1,
          "loglik": 1}
