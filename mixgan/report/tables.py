"""Tables over seeds for `mixgan.compare`: columns, pooling with report/stats.py, Markdown and CSV.

One rule (report/stats.py): means, stds and intervals are over the seeds that finished with a finite
value; a diverged seed is counted (and counts as collapsed), never averaged in.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixgan.errors import ConfigError
from mixgan.report import stats


@dataclass
class Column:
    """A table column: a per-run figure, how it is pooled over seeds, and the tag it is read from."""

    header: str
    pool: str  # mean_std | fraction | median
    tag: str
    fmt: Callable[[float], str] = lambda v: f"{v:.3g}"
    logged: bool = False  # a metric a run logged (its final value), not one of the figures below


COLUMNS: dict[str, Column] = {
    "modes": Column("modes", "mean_std", "quality/modes"),
    "high_quality": Column("high quality", "mean_std", "quality/high_quality"),
    "reverse_kl": Column("reverse KL", "mean_std", "quality/reverse_kl"),
    "all_modes": Column("all modes", "fraction", "quality/modes", lambda v: f"{v:.2f}"),
    "collapsed": Column("collapsed or diverged", "fraction", "quality/modes", lambda v: f"{v:.2f}"),
    "first_all_modes": Column("first it. all modes", "median", "quality/modes", lambda v: f"{v:.0f}"),
    "grad_D_mean": Column("‖∇θD‖ mean", "mean_std", "stability/grad_norm_D"),
    "grad_D_max": Column("‖∇θD‖ max", "mean_std", "stability/grad_norm_D"),
    "grad_input_mean": Column("‖∇xD‖ mean", "mean_std", "stability/grad_input_real"),
    "grad_input_max": Column("‖∇xD‖ max", "mean_std", "stability/grad_input_real"),
    "var_loss_D": Column("var loss/D, 2nd half", "mean_std", "loss/D"),
    "mode_drops": Column("mode drops", "mean_std", "quality/modes", lambda v: f"{v:.2g}"),
}

NOTES = ("mean ± std [95 % bootstrap interval of the mean] over the seeds that completed (diverged seeds "
         "are counted, not averaged); fractions: k of n finished seeds (Wilson 95 % interval), a diverged "
         "seed counts as collapsed; all modes / collapsed: at the end "
         "(collapsed: ≤ half the modes, or diverged); first it. all modes: median over seeds of the "
         "first measured iteration with every mode (— when at least half never get there); ‖∇θD‖: "
         "stability/grad_norm_D, ‖∇xD‖: stability/grad_input_real, mean and max over each run; var "
         "loss/D over the second half of training; mode drops: times quality/modes fell between two "
         "measurements.")


def parse_metrics(text: str | None) -> list[str]:
    """`--metrics a,b` → column names; an unknown name is a one-line error listing the accepted ones."""
    if text is None:
        return list(COLUMNS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in COLUMNS:
            raise ConfigError(f"--metrics: unknown metric {n!r}; accepted: {', '.join(COLUMNS)}")
    if not names:
        raise ConfigError(f"--metrics: empty; accepted: {', '.join(COLUMNS)}")
    return names


def pool(values: list[float | None], how: str) -> dict[str, Any]:
    """Pool one column over the seeds that have a value: mean_std (report/stats.describe: mean, std,
    95 % bootstrap interval), fraction (k of n with a Wilson interval) or median."""
    vals = [v for v in values if v is not None]
    if how == "median":
        return {"value": statistics.median(vals) if vals else None, "std": None, "n": len(vals)}
    if how == "fraction":
        k = int(sum(v > 0.5 for v in vals))
        p, low, high = stats.wilson(k, len(vals))
        return {"value": p, "std": None, "low": low, "high": high, "k": k, "n": len(vals)}
    d = stats.describe(vals)
    return {"value": d.mean, "std": d.std, "low": d.low, "high": d.high, "n": d.n}


def _cell(stat: dict[str, Any], col: Column) -> str:
    v = stat["value"]
    if v is None or not math.isfinite(v):
        return "—"
    if col.pool == "fraction":  # k/n (Wilson 95 % interval)
        return f"{stat['k']}/{stat['n']} ({stat['low']:.2f}–{stat['high']:.2f})"
    out = col.fmt(v) + (f" ± {stat['std']:.2g}" if stat["std"] is not None else "")
    if stat.get("low") is not None:
        out += f" [{col.fmt(stat['low'])}, {col.fmt(stat['high'])}]"
    return out


def markdown(table: list[dict[str, Any]], columns: list[str]) -> str:
    """The table as Markdown: what `compare` prints and writes to table.md."""
    head = ["group", "seeds", *(COLUMNS[c].header for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        seeds = str(row["seeds"])
        extra = [f"{row[k]} {k}" for k in ("diverged", "unfinished") if row[k]]
        seeds += f" ({', '.join(extra)})" if extra else ""
        cells = [_cell(row[c], COLUMNS[c]) for c in columns]
        if "modes" in columns and row["num_modes"] and cells[columns.index("modes")] != "—":
            cells[columns.index("modes")] += f" / {row['num_modes']}"
        lines.append("| " + " | ".join([row["label"], seeds, *cells]) + " |")
    return "\n".join(lines)


def _number(v: float | None) -> float | str:
    return "" if v is None or not math.isfinite(v) else v


def to_csv(table: list[dict[str, Any]], columns: list[str]) -> str:
    """The table as CSV: numbers only (mean, std, interval, n in separate columns), one row per group;
    a cell with no finite value (— in the Markdown, e.g. first_all_modes when most seeds never got
    there) is empty."""
    keys = list(dict.fromkeys(k for row in table for k in row["keys"]))
    head = ["group", *keys, "seeds", "diverged", "unfinished", "num_modes"]
    parts = {"mean_std": ("mean", "std", "low", "high", "n"), "fraction": ("", "low", "high", "n"),
             "median": ("",)}
    fields = {"mean": "value", "": "value", "std": "std", "low": "low", "high": "high", "n": "n"}
    for c in columns:
        head += [f"{c}_{p}" if p else c for p in parts[COLUMNS[c].pool]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for row in table:
        out = [row["label"], *(row["keys"].get(k, "") for k in keys), row["seeds"], row["diverged"],
               row["unfinished"], row["num_modes"] if row["num_modes"] is not None else ""]
        for c in columns:  # an empty cell where the Markdown shows "—" (no value, or never reached)
            out += [_number(row[c].get(fields[p])) for p in parts[COLUMNS[c].pool]]
        w.writerow(out)
    return buf.getvalue()
