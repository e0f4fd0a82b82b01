"""Run health at one evaluation (docs/design.md, habit 15): one verdict from a row of metrics, read
against reference generators scored by the run's own code, geometry and sample size.

The verdicts, the first that holds wins:
  diverged     a loss, probe or quality value is not finite (NaN or Inf weights or samples);
  D-saturated  σ(D) within SATURATED of 1 on real points and of 0 on fake ones, with G's gradient
               norm under G_VANISH: D has won and G no longer learns (BCE objectives only);
  noise-level  density and coverage both no higher than uniform noise over the data's box scores;
  collapsed    coverage at the one-mode reference's level, with density above noise's: sharp
               samples on one or two modes;
  healthy      none of these.
The references (metrics/toy_reference.py) are drawn from their own generators: measuring them never
touches a training stream, so a run's numbers are those of a run without this module.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

VERDICTS = ("healthy", "collapsed", "noise-level", "D-saturated", "diverged")

# "No higher than noise": at most the noise draws' mean + NOISE_SIGMAS std (and at most their largest
# draw). With 3 std on either of density and coverage, a sample of noise escapes the verdict about
# once in 400 evaluations (Gaussian tails). On grid25 at 2,500 samples the levels are coverage ≈ 0.06
# and density ≈ 0.014, which the mixup GAN of docs/results.md (0.096 and 0.041, means over 10 seeds)
# clears.
NOISE_SIGMAS = 3.0
# Collapsed: coverage at most 1.5 × the one-mode reference's (0.038 on grid25, 1/K of the data's k-NN
# balls): less than a mode and a half's worth; the ERM GAN of docs/results.md scores 0.034 ± 0.021.
COLLAPSE_FACTOR = 1.5
# D saturated: mean σ(D) ≥ 0.99 on real and ≤ 0.01 on fake points. The saturating G loss
# log(1 − σ(d)) then scales G's gradient by σ(d) ≤ 0.01 against ≈ 0.5 at a balanced D, so the
# 0.7-2 of a healthy default toy run (3 × 128 MLPs) falls near or under G_VANISH.
SATURATED = 0.01
G_VANISH = 1e-2
# The references the verdict and the summary read (short name → metrics/toy_reference.py name) and
# their draws at the run's sample size: a few, the data and one mode vary little between draws.
NAMES = {"data": "the data (another draw)", "one mode": "all mass on one mode",
         "noise": "uniform noise over the data's box"}
DRAWS = {"data": 2, "one mode": 2, "noise": 8}
_WATCHED = ("loss/", "stability/", "quality/")  # a user's own evaluate() numbers are not judged
_CACHE: dict[tuple, References] = {}


@dataclass(frozen=True)
class References:
    """Short name (data, one mode, noise) → quality/* tag → its values over the draws."""

    scores: dict[str, dict[str, list[float]]]

    def mean(self, name: str, tag: str) -> float:
        return statistics.fmean(self.scores[name][tag])

    def noise_level(self, tag: str) -> float:
        """The highest value still called noise (see NOISE_SIGMAS)."""
        v = self.scores["noise"][tag]
        spread = statistics.stdev(v) if len(v) > 1 else 0.0
        return max(statistics.fmean(v) + NOISE_SIGMAS * spread, max(v))

    def collapse_level(self) -> float:
        return COLLAPSE_FACTOR * self.mean("one mode", "quality/coverage")

    def means(self) -> dict[str, dict[str, float]]:
        return {name: {t: round(statistics.fmean(v), 5) for t, v in tags.items()}
                for name, tags in self.scores.items()}


def references(ref: Any, n: int) -> References:
    """The data, one-mode and noise references of a metrics.toy.ToyReference at n samples, scored once
    per geometry and size in a process (a few draws each: DRAWS)."""
    import torch

    from mixgan.metrics.toy_reference import reference_scores

    data = ref.data
    key = (type(data).__name__, tuple(data.means.flatten().tolist()), float(data.std), ref.n_real, n,
           ref.hq_sigmas, str(ref.real.device))
    if key not in _CACHE:
        with torch.no_grad():
            scores = reference_scores(ref, {"quality/": n}, only={NAMES[k]: d for k, d in DRAWS.items()})
        _CACHE[key] = References({short: scores[long] for short, long in NAMES.items()})
    return _CACHE[key]


@dataclass(frozen=True)
class Health:
    """A verdict at one evaluation, the reason in words, and the references it was read against."""

    verdict: str
    why: str
    refs: References | None = None

    def record(self, step: int) -> dict[str, Any]:
        """summary.json's `health`: the verdict, its step and reason, the references' means and levels."""
        out: dict[str, Any] = {"verdict": self.verdict, "step": step, "why": self.why}
        if self.refs is not None:
            out["references"] = self.refs.means()
            out["levels"] = {"noise": {t: round(self.refs.noise_level(t), 5)
                                       for t in ("quality/density", "quality/coverage")},
                             "collapsed": {"quality/coverage": round(self.refs.collapse_level(), 5)}}
        return out


def judge(metrics: dict[str, float], refs: References | None, probability: bool = True) -> Health:
    """The verdict of one evaluation's row (see the module's docstring). Without references (not toy
    data) only diverged and D-saturated can be told; probability False: D is a critic, not σ(D)."""
    bad = [k for k, v in metrics.items() if k.startswith(_WATCHED) and not math.isfinite(v)]
    if bad:
        return Health("diverged", f"{bad[0]} is {metrics[bad[0]]}", refs)
    real, fake, g = (metrics.get(f"stability/{k}") for k in ("D_real", "D_fake", "grad_norm_G"))
    if probability and None not in (real, fake, g) and real >= 1 - SATURATED and fake <= SATURATED \
            and g < G_VANISH:  # type: ignore[operator]
        return Health("D-saturated", f"σ(D) {real:.3f} on real, {fake:.3f} on fake, ‖∇G‖ {g:.2g} "
                      f"< {G_VANISH:g}", refs)
    dens, cov = metrics.get("quality/density"), metrics.get("quality/coverage")
    if refs is None or dens is None or cov is None:
        return Health("healthy", "no sign of divergence or saturation (no quality references)", refs)
    noise_d, noise_c = refs.noise_level("quality/density"), refs.noise_level("quality/coverage")
    if dens <= noise_d and cov <= noise_c:
        return Health("noise-level", f"density {dens:.3g} ≤ {noise_d:.3g} and coverage {cov:.3g} ≤ "
                      f"{noise_c:.3g}, uniform noise's level", refs)
    if cov <= refs.collapse_level():
        return Health("collapsed", f"coverage {cov:.3g} ≤ {refs.collapse_level():.3g} "
                      f"({COLLAPSE_FACTOR:g} × one mode's)", refs)
    return Health("healthy", f"density {dens:.3g} > {noise_d:.3g} or coverage {cov:.3g} > {noise_c:.3g}, "
                  f"coverage above the one-mode level", refs)


def annotate(tag: str, value: float, health: dict[str, Any]) -> str:
    """`value` with the noise's, one mode's and the data's numbers beside it, from a summary's `health`
    (print_summary): "0.09  (noise 0.0493, one mode 0.0376, data 0.966)"; the bare value where none."""
    refs = health.get("references", {})
    beside = [f"{name} {refs[name][tag]:.3g}" for name in ("noise", "one mode", "one image", "data")
              if tag in refs.get(name, {})]
    return f"{value:.4g}" + (f"  ({', '.join(beside)})" if beside else "")
