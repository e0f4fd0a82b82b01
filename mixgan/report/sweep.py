"""The sweep's results table: a row per variant × grid point, metrics as mean ± std [95 % bootstrap
interval] over the completed seeds (report/stats.py: the one rule of every report).

Read from the run dirs' summary.json only (docs/design.md: the data path); written as report.md and
report.csv in the sweep dir, with the paper's numbers beside ours where the sweep file gives them.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixgan.config.sweep import Sweep, name_value
from mixgan.report.stats import Described, describe, fmt
from mixgan.rundir.validate import read_summary, run_state

COUNTS = ("completed", "diverged", "failed", "todo")  # todo: not run yet, or interrupted


@dataclass
class RowStats:
    """One table row: the seeds' states and, over the completed seeds, each metric's values."""

    row: str
    variant: str
    point: dict[str, Any]
    paper: dict[str, float]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    values: dict[str, list[float]] = field(default_factory=dict)

    def stat(self, metric: str) -> Described:
        """The metric over the completed seeds with a finite value."""
        return describe(self.values.get(metric, []))


def collect(sweep: Sweep, sweep_dir: Path) -> list[RowStats]:
    """Read every run's state and final metrics. Diverged seeds are counted, not averaged."""
    rows = {r.row: RowStats(r.row, r.variant, dict(r.point), sweep.paper.get(r.row, {}))
            for r in sweep.rows()}
    for run in sweep.runs:
        stats = rows[run.row]
        state = run_state(sweep_dir / run.name)
        stats.counts[state if state in COUNTS else "todo"] += 1
        if state != "completed":
            continue
        final = read_summary(sweep_dir / run.name).get("final", {})  # its fields checked
        for m in sweep.metrics:
            v = final.get(m)
            if isinstance(v, int | float) and math.isfinite(v):
                stats.values.setdefault(m, []).append(float(v))
    return list(rows.values())


def markdown(sweep: Sweep, table: list[RowStats],
             refs: list[tuple[str, dict[str, list[float]]]] | None = None) -> str:
    """The table as the runner prints it and writes to report.md; `refs` (label, metric → values over
    draws) are appended as reference rows (report/references.py)."""
    with_paper = [m for m in sweep.metrics if any(m in r.paper for r in table)]
    counts = [c for c in COUNTS if c != "todo" or any(r.counts["todo"] for r in table)]
    head = ["variant", *sweep.grid_keys]
    for m in sweep.metrics:
        head += [m] + ([f"{m} (paper)"] if m in with_paper else [])
    head += counts
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        cells = [r.variant, *(name_value(r.point[k]) if k in r.point else "" for k in sweep.grid_keys)]
        for m in sweep.metrics:
            cells.append(fmt(r.stat(m)))
            if m in with_paper:
                cells.append(f"{r.paper[m]:g}" if m in r.paper else "")
        cells += [str(r.counts[c]) for c in counts]
        lines.append("| " + " | ".join(cells) + " |")
    for label, values in refs or []:
        cells = [label, *("" for _ in sweep.grid_keys)]
        for m in sweep.metrics:
            cells.append(fmt(describe(values.get(m, []))) if values.get(m) else "")
            cells += [""] if m in with_paper else []
        lines.append("| " + " | ".join(cells + [""] * len(counts)) + " |")
    return "\n".join(lines)


def reference_rows(sweep: Sweep, sweep_dir: Path) -> list[tuple[str, dict[str, list[float]]]]:
    """For toy-GAN sweeps whose metrics the references have: one row per reference generator, scored by
    the runs' code at the first finished run's sample sizes (report/references.py)."""
    from mixgan.errors import MixganError
    from mixgan.report import references
    from mixgan.report.runs import load_run

    done = [sweep_dir / r.name for r in sweep.runs if run_state(sweep_dir / r.name) == "completed"]
    if sweep.task != "gan" or not done:
        return []
    try:
        refs = references.references([load_run(done[0])])
    except MixganError:
        return []
    rows = [(f"reference: {title}{name}", vals) for title, scores in refs for name, vals in scores.items()]
    return rows if any(m in vals for _, vals in rows for m in sweep.metrics) else []


def to_csv(sweep: Sweep, table: list[RowStats]) -> str:
    """Numbers only: mean, std, interval, n and the paper's value in separate columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["row", "variant", *sweep.grid_keys, *COUNTS]
    for m in sweep.metrics:
        head += [f"{m} mean", f"{m} std", f"{m} low", f"{m} high", f"{m} n", f"{m} paper"]
    w.writerow(head)
    for r in table:
        out: list[Any] = [r.row, r.variant, *(r.point.get(k, "") for k in sweep.grid_keys),
                          *(r.counts[c] for c in COUNTS)]
        for m in sweep.metrics:
            d = r.stat(m)
            numbers = ("" if v is None else v for v in (d.mean, d.std, d.low, d.high))
            out += [*numbers, d.n, r.paper.get(m, "")]
        w.writerow(out)
    return buf.getvalue()


def missing_metrics(sweep: Sweep, table: list[RowStats], sweep_dir: Path) -> list[str]:
    """Metrics that no completed run has: most likely a typo in the sweep file."""
    if not any(r.counts["completed"] for r in table):
        return []
    return [m for m in sweep.metrics if not any(m in r.values for r in table)]


def available_metrics(sweep: Sweep, sweep_dir: Path) -> list[str]:
    for run in sweep.runs:
        if run_state(sweep_dir / run.name) == "completed":
            return sorted(read_summary(sweep_dir / run.name).get("final", {}))
    return []


def _write_atomic(path: Path, text: str) -> None:
    """Temp file + rename: a reader (or a Ctrl-C) never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(sweep: Sweep, sweep_dir: Path,
                 stability_table: Callable[[Sweep, Path], str | None] | None = None) -> str:
    """Write report.md and report.csv next to the runs; return the text to print. `stability_table`:
    the GAN stability section's text, or None (mixgan.ablate passes mixgan.compare's; report/ stays
    below the commands)."""
    table = collect(sweep, sweep_dir)
    refs = reference_rows(sweep, sweep_dir)
    text = markdown(sweep, table, refs)
    notes = ["mean ± sample std [95 % bootstrap interval of the mean] over the completed seeds; diverged "
             "and failed seeds are counted, not averaged; todo = not run yet or interrupted."]
    if refs:
        notes.append("reference rows: the same metric code on the data, blurred modes, one mode and uniform "
                     "noise at the runs' sample sizes (mean ± std over their draws; docs/results.md).")
    missing = missing_metrics(sweep, table, sweep_dir)
    if missing:
        notes.append(f"warning: no completed run reports {', '.join(missing)}; the runs report: "
                     f"{', '.join(available_metrics(sweep, sweep_dir))}")
    stability = stability_table(sweep, sweep_dir) if stability_table is not None else None
    command = f"python -m mixgan.ablate {sweep.path} --out {sweep_dir}"
    body = [f"# {sweep.name}", "", *([sweep.description, ""] if sweep.description else []),
            f"Runs: `{command}` ({len(sweep.runs)} runs, task {sweep.task}).", "", text, "", *notes]
    if stability:
        body += ["", "## GAN stability (mixgan.compare)", "", stability]
    _write_atomic(sweep_dir / "report.md", "\n".join(body) + "\n")
    _write_atomic(sweep_dir / "report.csv", to_csv(sweep, table))
    printed = [text, "", *notes]
    if stability:
        printed += ["", "GAN stability (mixgan.compare, written to stability/table.md):", stability]
    return "\n".join(printed)
