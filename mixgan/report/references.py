"""Reference rows for compare's table, its forest plot and the sweep report (docs/design.md, habit 11),
and the verdict against the uniform-noise reference.

The references (metrics/toy_reference.py: the data, blurred modes, one mode, uniform noise) are scored
by the runs' own code (metrics.toy.ToyReference) at the runs' sample sizes (metrics.n_samples, and
metrics.final_samples for final_large/*) against the same fixed real sample, so a row of the table
and a reference row are the same measurement of different generators.

Verdict: a group is *better than noise* on a metric when a one-sided Mann–Whitney U test of its
completed seeds' final values (protocol size) against the NOISE_DRAWS noise draws gives p < ALPHA, in
the metric's good direction; it is *not distinguishable from noise* when it is better on none of
VERDICT_METRICS (a group worse than noise, e.g. collapsed, is reported so too: no better than noise).
Seeds carry training and evaluation variance, the noise draws evaluation variance only.
"""

from __future__ import annotations

import functools
import statistics
from typing import Any

from mixgan.metrics.toy import BETTER

VERDICT_METRICS = ("density", "coverage", "sliced_w1")  # quality/* at the protocol size
# (not loglik: mass collapsed between the modes beats noise on it while no better on anything else)
ALPHA = 0.05


def _key(config: dict[str, Any]) -> tuple | None:
    """What the references of a run depend on (dotted config), or None for a run they do not fit."""
    from mixgan.config.gan import GanConfig
    from mixgan.report.runs import is_toy_gan

    if not is_toy_gan(config):
        return None
    d, m = GanConfig().data, GanConfig().metrics
    get = config.get
    return (get("data.name"), float(get("data.std", d.std)), float(get("data.radius", d.radius)),
            float(get("data.spacing", d.spacing)), int(get("metrics.n_samples", m.n_samples)),
            int(get("metrics.final_samples", 0)), float(get("metrics.hq_sigmas", m.hq_sigmas)))


@functools.lru_cache(maxsize=8)
def _scores(key: tuple) -> dict[str, dict[str, list[float]]]:
    import torch

    from mixgan.data import GAN_DATA
    from mixgan.metrics.toy import ToyReference
    from mixgan.metrics.toy_reference import reference_scores

    name, std, radius, spacing, n, large, hq = key
    data = GAN_DATA[name](std=std, radius=radius, spacing=spacing)
    with torch.no_grad():
        ref = ToyReference(data, n, max(n, large), "cpu", hq)
        return reference_scores(ref, {"quality/": n, **({"final_large/": large} if large else {})})


def _keys(runs: list[Any]) -> list[tuple]:
    return list(dict.fromkeys(k for r in runs if (k := _key(r.config)) is not None))


def references(runs: list[Any]) -> list[tuple[str, dict[str, dict[str, list[float]]]]]:
    """(title, name → tag → values over its draws) per distinct data set / sample size of the runs;
    the title names the data set only where the runs have several."""
    keys = _keys(runs)
    return [(f"{k[0]}, " if len(keys) > 1 else "", _scores(k)) for k in keys]


def noise_scores(config: dict[str, Any]) -> dict[str, list[float]] | None:
    """The uniform-noise draws' values (tag → list) for a run's config, or None."""
    from mixgan.metrics.toy_reference import NOISE

    key = _key(config)
    return None if key is None else _scores(key)[NOISE]


def table_rows(runs: list[Any], columns: list[str]) -> list[dict[str, Any]]:
    """Reference rows shaped like compare's group rows (report/tables.markdown and to_csv read them):
    a column gets the reference's mean ± std over its draws where it is a final value (FINAL_VALUE)."""
    from mixgan.data import GAN_DATA
    from mixgan.report.tables import COLUMNS, FINAL_VALUE, pool

    rows = []
    for key, (title, scores) in zip(_keys(runs), references(runs)):
        for name, vals in scores.items():
            draws = max((len(v) for v in vals.values()), default=0)
            row: dict[str, Any] = {"label": f"reference: {title}{name}", "keys": {"reference": name},
                                   "seeds": draws, "diverged": 0, "unfinished": 0,
                                   "num_modes": GAN_DATA[key[0]]().num_modes,
                                   "runs": [], "values": {}}
            for c in columns:
                v = vals.get(FINAL_VALUE.get(c, ""), [])
                row[c] = pool(v, COLUMNS[c].pool) if v else pool([], COLUMNS[c].pool)
                row["values"][c] = v
            rows.append(row)
    return rows


def verdict(values: list[float], noise: list[float], metric: str) -> float | None:
    """One-sided Mann–Whitney U p-value of "the group is better than the noise draws" (None: no values)."""
    from scipy import stats

    from mixgan.report.stats import finite

    x, y = finite(values), finite(noise)
    if not len(x) or not len(y):
        return None
    return float(stats.mannwhitneyu(x, y, alternative="greater" if BETTER[metric] > 0 else "less").pvalue)


def verdict_lines(groups: list[Any]) -> list[str]:
    """One line per toy-GAN group: better than uniform noise on which metrics, or not told apart."""
    from mixgan.metrics.toy_reference import NOISE_DRAWS

    lines = []
    for g in groups:
        noise = noise_scores(g.runs[0].config)
        if noise is None:
            continue
        done = [r for r in g.runs if r.status == "completed"]
        better, not_better = [], []
        for m in VERDICT_METRICS:
            tag = f"quality/{m}"
            p = verdict([r.final.get(tag) for r in done], noise.get(tag, []), m)
            if p is None:
                continue
            (better if p < ALPHA else not_better).append(f"{m} (p = {p:.2g})")
        if not better and not not_better:
            lines.append(f"- {g.label}: no completed seed reports {', '.join(VERDICT_METRICS)}")
        elif not better:
            lines.append(f"- {g.label}: **not distinguishable from uniform noise** (no better on any: "
                         f"{', '.join(not_better)})")
        else:
            lines.append(f"- {g.label}: better than uniform noise on {', '.join(better)}"
                         + (f"; no better on {', '.join(not_better)}" if not_better else ""))
    if not lines:
        return []
    n = _key(groups[0].runs[0].config)
    size = f"{n[4]:,}" if n else "metrics.n_samples"
    return [f"Against uniform noise over the data's box (one-sided Mann–Whitney U of a group's completed "
            f"seeds vs {NOISE_DRAWS} noise draws, {size} samples, α = {ALPHA}):", *lines]


def _line_means(runs: list[Any]) -> dict[str, dict[str, float]]:
    """Short reference name → tag → its mean over draws, for the first data set of the runs (the plots
    draw one set of reference lines)."""
    from mixgan.metrics.toy_reference import SHORT

    return {SHORT[name]: {tag: statistics.fmean(v) for tag, v in vals.items()}
            for _, scores in references(runs)[:1] for name, vals in scores.items() if name in SHORT}


def forest_lines(runs: list[Any], columns: list[str]) -> dict[str, dict[str, float]]:
    """reference name → column → its mean over draws, for the forest plot's vertical lines."""
    from mixgan.report.tables import FINAL_VALUE

    return {name: {c: means[FINAL_VALUE[c]] for c in columns if FINAL_VALUE.get(c) in means}
            for name, means in _line_means(runs).items()}


def curve_lines(runs: list[Any]) -> dict[str, dict[str, float]]:
    """reference name → tag (quality/*, protocol size) → its mean over draws: the horizontal lines of
    compare's curves.png (what the data, one mode and uniform noise score at every measurement)."""
    return {name: {t: v for t, v in means.items() if t.startswith("quality/")}
            for name, means in _line_means(runs).items()}


def image_rows(runs: list[Any], columns: list[str]) -> list[dict[str, Any]]:
    """The image GAN's reference rows (held-out real images, uniform noise images, one repeated image),
    as its runs measured them at their end on their own features and sample size (summary.json's
    `references`, metrics/image_reference.py): one row each per distinct set among the runs."""
    import json

    from mixgan.metrics.image_reference import NAMES
    from mixgan.report.tables import COLUMNS, pool

    sets = {json.dumps(r.summary["references"], sort_keys=True): r for r in runs
            if isinstance(r.summary.get("references"), dict)}
    rows = []
    for run in sets.values():
        cfg = run.config
        title = f"{cfg.get('data.name')}, n = {cfg.get('metrics.n_samples')}, " if len(sets) > 1 else ""
        for name, values in run.summary["references"].items():
            row: dict[str, Any] = {"label": f"reference: {title}{NAMES.get(name, name)}", "seeds": 1,
                                   "keys": {"reference": name}, "diverged": 0, "unfinished": 0,
                                   "num_modes": None, "runs": [], "values": {}}
            for c in columns:
                v = [values[COLUMNS[c].tag]] if COLUMNS[c].final and COLUMNS[c].tag in values else []
                row[c], row["values"][c] = pool(v, COLUMNS[c].pool), v
            rows.append(row)
    return rows
