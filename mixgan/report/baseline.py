"""Differences to a baseline group (`compare --baseline GROUP`): per metric, mean(group) − mean(baseline)
with a 95 % bootstrap interval, the two-sided Mann–Whitney U p-value and the rank-biserial effect size
(report/stats.difference), as a Markdown table, a CSV and a forest plot."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from mixgan.errors import ConfigError
from mixgan.report import stats
from mixgan.report.labels import Names
from mixgan.report.tables import COLUMNS

NOTE = ("Δ = mean(group) − mean(baseline) over completed seeds [95 % bootstrap interval]; p: two-sided "
        "Mann–Whitney U; r: rank-biserial effect size, P(group > baseline) − P(group < baseline).")


def pick_baseline(groups: list[Names], name: str) -> int:
    """The index of the baseline group: the one whose label (`erm`), older label (`objective.name=erm`),
    folder name (`grid25-erm`) or folder path is `name`; else the one (older) label containing `name`.
    Anything else is a one-line error listing each group's label and folder."""
    wanted = {name, name.rstrip("/"), str(Path(name).expanduser().resolve())}
    hits = [i for i, g in enumerate(groups) if wanted & set(g.names)]
    if not hits:
        hits = [i for i, g in enumerate(groups) if name and (name in g.label or name in g.long)]
    if len(hits) != 1:
        how = "matches no group" if not hits else f"matches {len(hits)} groups"
        accepted = "; ".join(g.label + (f" or {g.folder}" if g.folder and g.folder != g.label else "")
                             for g in groups)
        raise ConfigError(f"--baseline: {name!r} {how}; accepted: {accepted} (a group's label, its "
                          f"folder's name or path)")
    return hits[0]


def differences(values: list[dict[str, list[float]]], base: int, columns: list[str]) -> list[dict[str, Any]]:
    """Per group (baseline included, Δ = 0) and mean_std column: its `stats.Difference`."""
    keep = [c for c in columns if COLUMNS[c].pool == "mean_std"]
    return [{c: stats.difference(v.get(c, []), values[base].get(c, [])) for c in keep} for v in values]


def markdown(labels: list[str], diffs: list[dict[str, Any]], base: int) -> str:
    cols = list(diffs[0]) if diffs else []
    head = ["group", *(COLUMNS[c].header for c in cols)]
    lines = [f"Against the baseline {labels[base]}:", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for i, (label, row) in enumerate(zip(labels, diffs)):
        if i != base:
            lines.append("| " + " | ".join([label, *(stats.fmt_difference(row[c]) for c in cols)]) + " |")
    return "\n".join(lines)


def to_csv(labels: list[str], diffs: list[dict[str, Any]], base: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["group", "baseline", "metric", "delta", "low", "high", "p_value", "effect", "n",
                "n_baseline"])
    for i, (label, row) in enumerate(zip(labels, diffs)):
        if i == base:
            continue
        for c, d in row.items():
            w.writerow([label, labels[base], c, *("" if v is None else v for v in
                                                  (d.delta, d.low, d.high, d.p_value, d.effect)),
                        d.n, d.n_baseline])
    return buf.getvalue()


def forest_figure(labels: list[str], diffs: list[dict[str, Any]], base: int,
                  refs: dict[str, dict[str, float]] | None = None) -> Any:
    """One panel per metric: each group's Δ to the baseline with its interval, a line at 0, and a dotted
    line per reference generator (`refs`: name → metric → its value − the baseline's mean)."""
    from mixgan.report.plots import _plt

    plt = _plt()
    cols = list(diffs[0]) if diffs else []
    others = [i for i in range(len(labels)) if i != base]
    ncols = min(3, max(len(cols), 1))
    nrows = math.ceil(max(len(cols), 1) / ncols)
    height = 0.35 * len(others) + 1.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height * nrows + 0.4), dpi=100,
                             squeeze=False)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    for k, (ax, c) in enumerate(zip(axes.flat, cols)):
        for y, i in enumerate(others):
            d = diffs[i][c]
            if d.delta is None:
                continue
            err = None if d.low is None else [[d.delta - d.low], [d.high - d.delta]]
            ax.errorbar([d.delta], [y], xerr=err, fmt="o", color=f"C{y % 10}", capsize=3)
        ax.axvline(0, color="0.5", lw=1, ls="--")
        reference_lines(ax, refs or {}, c)
        names = [labels[i] for i in others] if k % ncols == 0 else [""] * len(others)
        ax.set_yticks(range(len(others)), names, fontsize=9)
        ax.set_title(f"Δ {COLUMNS[c].header}", fontsize=10)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.tick_params(labelsize=9)
    fig.suptitle(f"difference to {labels[base]} (95 % bootstrap interval)"
                 + ("; dotted: reference generators (same code, same sample sizes)" if refs else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


def reference_lines(ax: Any, refs: dict[str, dict[str, float]], column: str) -> None:
    """Dotted vertical lines at each reference's value − the baseline's mean, named at the top; a
    reference far off the groups' scale (more than twice the panel's width away) is named at the edge."""
    low, high = ax.get_xlim()
    width = high - low
    for k, (name, values) in enumerate(refs.items()):
        if column not in values or not np.isfinite(values[column]):
            continue
        x = values[column]
        color = f"C{(k + 3) % 10}"
        if low - 2 * width <= x <= high + 2 * width:
            ax.axvline(x, color=color, lw=1, ls=":")
            ax.text(x, 1.0, name, rotation=90, va="top", ha="right", fontsize=7,
                    color=color, transform=ax.get_xaxis_transform())
        else:
            side = high if x > high else low
            ax.text(side, 0.02 + 0.08 * k, f"{'→' if x > high else '←'} {name}", fontsize=7,
                    color=color, ha="right" if x > high else "left", transform=ax.get_xaxis_transform())


def write(out: Path, labels: list[str], values: list[dict[str, list[float]]], base: int,
          columns: list[str], plots: bool, refs: dict[str, dict[str, float]] | None = None) -> str:
    """differences.md, differences.csv and forest.png in `out`; return the Markdown."""
    diffs = differences(values, base, columns)
    base_means = {c: float(np.mean(stats.finite(values[base].get(c, [])))) for c in columns
                  if len(stats.finite(values[base].get(c, [])))}
    refs = {name: {c: v - base_means[c] for c, v in ref.items() if c in base_means}
            for name, ref in (refs or {}).items()}
    text = markdown(labels, diffs, base)
    (out / "differences.md").write_text(text + "\n\n" + NOTE + "\n")
    (out / "differences.csv").write_text(to_csv(labels, diffs, base))
    if plots and diffs and diffs[0]:
        from mixgan.report.plots import _plt

        fig = forest_figure(labels, diffs, base, refs)
        fig.savefig(out / "forest.png")
        _plt().close(fig)
    return text
