"""Tables over seeds for `mixgan.compare`: columns, pooling with report/stats.py, Markdown and CSV.

One rule (report/stats.py): means, stds and intervals are over the seeds that finished with a finite
value; a diverged seed is counted (and counts as collapsed), never averaged in.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable
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
    final: bool = False  # the per-run figure is summary.json's final value of `tag` (else derived)
    logged: bool = False  # a metric a run logged (its final value), not one of the figures below


COLUMNS: dict[str, Column] = {
    "modes": Column("modes", "mean_std", "quality/modes", final=True),
    "high_quality": Column("high quality", "mean_std", "quality/high_quality", final=True),
    "reverse_kl": Column("reverse KL", "mean_std", "quality/reverse_kl", final=True),
    "all_modes": Column("all modes", "fraction", "quality/modes", lambda v: f"{v:.2f}"),
    "collapsed": Column("collapsed or diverged", "fraction", "quality/modes", lambda v: f"{v:.2f}"),
    "first_all_modes": Column("first it. all modes", "median", "quality/modes", lambda v: f"{v:.0f}"),
    "grad_D_mean": Column("‖∇θD‖ mean", "mean_std", "stability/grad_norm_D"),
    "grad_D_max": Column("‖∇θD‖ max", "mean_std", "stability/grad_norm_D"),
    "grad_input_mean": Column("‖∇xD‖ mean", "mean_std", "stability/grad_input_real"),
    "grad_input_max": Column("‖∇xD‖ max", "mean_std", "stability/grad_input_real"),
    "var_loss_D": Column("var loss/D, 2nd half", "mean_std", "loss/D"),
    "mode_drops": Column("mode drops", "mean_std", "quality/modes", lambda v: f"{v:.2g}"),
    "fid_digits": Column("FID (digits net)", "mean_std", "fidelity/fid_digits", final=True),
    "fid_inception": Column("FID (Inception)", "mean_std", "fidelity/fid_inception", final=True),
    "is_inception": Column("IS (Inception)", "mean_std", "fidelity/is_inception", final=True),
    # Image GANs, on the FID features of each extractor: fidelity (precision, density), diversity (recall,
    # coverage); precision/recall by torch-fidelity (k = 3), density/coverage by metrics/toy.py (k = 5).
    **{f"{m}_{t}": Column(f"{m} ({name})", "mean_std", f"fidelity/{m}_{t}", final=True)
       for t, name in (("digits", "digits net"), ("inception", "Inception"))
       for m in ("precision", "recall", "density", "coverage")},
    "error": Column("test error", "mean_std", "test/error", final=True),
    "error_best": Column("best test error", "mean_std", "test/error_best", final=True),
    "ece": Column("test ECE", "mean_std", "test/ece", final=True),
    # Coverage apart from blur (metrics/toy.py), at metrics.n_samples like the three above.
    "density": Column("density", "mean_std", "quality/density"),
    "coverage": Column("coverage", "mean_std", "quality/coverage"),
    "sliced_w1": Column("sliced W1", "mean_std", "quality/sliced_w1"),
    "loglik": Column("log-lik.", "mean_std", "quality/loglik", lambda v: f"{v:.4g}"),
    # The final model on metrics.final_samples samples (one evaluation no luck decides).
    "large_modes": Column("modes, N large", "mean_std", "final_large/modes"),
    "large_density": Column("density, N large", "mean_std", "final_large/density"),
    "large_coverage": Column("coverage, N large", "mean_std", "final_large/coverage"),
    "large_sliced_w1": Column("sliced W1, N large", "mean_std", "final_large/sliced_w1"),
    # The spread within a run: sample std of its last LAST_K evaluations, averaged over seeds.
    "modes_last_sd": Column("modes sd, last 5 evals", "mean_std", "quality/modes", lambda v: f"{v:.2g}"),
    "coverage_last_sd": Column("coverage sd, last 5 evals", "mean_std", "quality/coverage",
                               lambda v: f"{v:.2g}"),
    "density_last_sd": Column("density sd, last 5 evals", "mean_std", "quality/density",
                              lambda v: f"{v:.2g}"),
    # The level at the end that one lucky evaluation cannot set: the mean of the last LAST_K evaluations.
    "coverage_last_mean": Column("coverage, mean of last 5 evals", "mean_std", "quality/coverage"),
    "density_last_mean": Column("density, mean of last 5 evals", "mean_std", "quality/density"),
}

# The columns compare shows by default for runs of each task: the one list (`ablate` reports the
# final values among them when a sweep file names no `metrics:`). Image GANs count modes only on the
# digits (and have no high-quality count or mode total); FID/IS are per feature extractor.
STABILITY = ["grad_D_mean", "grad_D_max", "grad_input_mean", "grad_input_max", "var_loss_D"]
TASK_COLUMNS: dict[str, list[str]] = {
    "gan": ["modes", "high_quality", "reverse_kl", "density", "coverage", "sliced_w1", "large_density",
            "large_coverage", "large_sliced_w1", "coverage_last_mean", "coverage_last_sd", "all_modes",
            "collapsed",
            "first_all_modes", *STABILITY, "mode_drops"],
    "image_gan": ["modes", "reverse_kl", "fid_digits", "fid_inception", "is_inception", "precision_digits",
                  "recall_digits", "density_digits", "coverage_digits", *STABILITY],
    "classify": ["error", "error_best", "ece"],
    "custom": ["grad_D_mean", "grad_D_max", "grad_input_mean", "grad_input_max"],  # mixgan.run_logger
}

# Columns that are a run's final value of one tag: the reference rows (report/references.py) have them.
FINAL_VALUE = {c: COLUMNS[c].tag for c in ("modes", "high_quality", "reverse_kl", "density", "coverage",
                                           "sliced_w1", "loglik", "large_modes", "large_density",
                                           "large_coverage", "large_sliced_w1")}
LAST_K = 5  # evaluations the within-run spread is taken over
SPREAD = {"modes_last_sd": "quality/modes", "coverage_last_sd": "quality/coverage",
          "density_last_sd": "quality/density"}
LEVEL = {"coverage_last_mean": "quality/coverage", "density_last_mean": "quality/density"}


def quality_stats(final: dict[str, float],
                  series: Callable[[str], list[tuple[int, float]]]) -> dict[str, float | None]:
    """The new quality columns of one finished run: final values, and the spread of its last evaluations."""
    out: dict[str, float | None] = {c: final.get(tag) for c, tag in FINAL_VALUE.items()
                                    if c not in ("modes", "high_quality", "reverse_kl")}
    for c, tag in SPREAD.items():
        last = [v for _, v in series(tag)[-LAST_K:] if math.isfinite(v)]
        out[c] = statistics.stdev(last) if len(last) >= 2 else None
    for c, tag in LEVEL.items():
        last = [v for _, v in series(tag)[-LAST_K:] if math.isfinite(v)]
        out[c] = statistics.fmean(last) if last else None
    return out

NOTES = ("mean ± std [95 % bootstrap interval of the mean] over the seeds that completed (diverged seeds "
         "are counted, not averaged); fractions: k of n finished seeds (Wilson 95 % interval), a diverged "
         "seed counts as collapsed; all modes / collapsed: at the end "
         "(collapsed: ≤ half the modes, or diverged); first it. all modes: median over seeds of the "
         "first measured iteration with every mode (— when at least half never get there); ‖∇θD‖: "
         "stability/grad_norm_D, ‖∇xD‖: stability/grad_input_real, mean and max over each run; var "
         "loss/D over the second half of training; mode drops: times quality/modes fell between two "
         "measurements; FID / IS: torch-fidelity's at the end, per feature extractor; precision, recall "
         "(torch-fidelity, k = 3), density and coverage (k = 5) of image GANs: at the end, on the same "
         "features as FID; test error, best "
         "test error (the lowest over the epochs) and test ECE in %. density, coverage (Naeem et al. "
         "2020, k = 5), sliced W1 (to the fixed real sample) "
         "and log-lik. (under the true mixture) at metrics.n_samples; N large: the final model scored again "
         "on metrics.final_samples samples; sd, last 5 evals: the std of a run's last 5 evaluations "
         "(its spread within the run), mean over seeds; mean of last 5 evals: their mean (a run's level "
         "at the end that one lucky evaluation cannot set). Reference rows: the same code on the data, "
         "blurred modes, one mode and uniform noise at the same sample sizes (mean ± std over their draws).")


def standard_columns(tasks: Iterable[str]) -> list[str]:
    """The columns compare shows for runs of these tasks (TASK_COLUMNS in order; the toy GAN's for none)."""
    columns = dict.fromkeys(c for task in tasks for c in TASK_COLUMNS.get(task, TASK_COLUMNS["gan"]))
    return list(columns) or TASK_COLUMNS["gan"]


def standard_metrics(task: str) -> list[str]:
    """The summary.json final keys behind the task's standard columns: what a sweep that names no
    `metrics:` reports (gan: quality/modes, quality/high_quality, quality/reverse_kl)."""
    return list(dict.fromkeys(COLUMNS[c].tag for c in standard_columns([task]) if COLUMNS[c].final))


def parse_metrics(text: str | None, tasks: Iterable[str] = ("gan",)) -> list[str]:
    """`--metrics a,b` → column names (none: the tasks' standard columns); an unknown name is a one-line
    error listing the accepted ones."""
    if text is None:
        return standard_columns(tasks)
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
