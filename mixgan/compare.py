"""`python -m mixgan.compare RUN_OR_GROUP_DIR ...`: one table over seeds (Markdown, CSV) and plots.

Reads run dirs (config.yaml, metrics.jsonl, summary.json; never event files), groups runs whose
configs differ only by the seed (or by one key, `--by objective.name`), labels each group by what
differs (`erm`, `mixup α=0.2`: report/labels.py), and reports per group the
final quality as mean ± std over seeds, how often every mode is covered, collapse/divergence rates,
and stability figures (docs/design.md, habit 10: report over seeds, never a single best run).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixgan.config.core import set_dotted
from mixgan.errors import ConfigError, MixganError
from mixgan.report.labels import group_names, label_keys, long_label, readable_label
from mixgan.report.runs import Run, is_toy_gan, load_runs, task_of
from mixgan.report.tables import (
    COLUMNS,
    NOTES,
    TASK_COLUMNS,
    Column,
    markdown,
    parse_metrics,
    pool,
    quality_stats,
    to_csv,
)
from mixgan.rundir.paths import check_writable

# Config keys that never make two runs different experiments.
IGNORED_KEYS = ("seed", "device", "run.")

@dataclass
class Group:
    label: str  # readable, from `keys` (report/labels.readable_label): `erm`, `mixup α=0.2`
    runs: list[Run]
    keys: dict[str, Any] = field(default_factory=dict)  # the config values that label it


def unread_keys(config: dict[str, Any]) -> set[str]:
    """Config keys this run never reads, from the objective registries' `reads` (ERM has no α) and the
    stabilizers that are off: runs that differ only in them are one experiment, and no label names them."""
    from mixgan.objectives.classify import CLASSIFY_OBJECTIVES
    from mixgan.objectives.gan import GAN_OBJECTIVES
    from mixgan.trainers.gan_hparams import unused_stabilizers

    registry = CLASSIFY_OBJECTIVES if config.get("task") == "classify" else GAN_OBJECTIVES
    cls = registry.get(config.get("objective.name"))
    if cls is None:
        return set()
    nested: dict[str, Any] = {}
    for key, value in config.items():  # unused_stabilizers reads the nested form
        if key.startswith(("stabilizers.", "train.ema")):
            set_dotted(nested, key, value)
    unread = {k for k in config if k.startswith("objective.") and k != "objective.name"
              and k.removeprefix("objective.") not in cls.reads}
    return unread | set(unused_stabilizers(nested))


def _identity(run: Run) -> dict[str, Any]:
    """The config keys that make a run's experiment (not its seed, device, run dir, or unread keys)."""
    unread = unread_keys(run.config)
    return {k: v for k, v in run.config.items() if not k.startswith(IGNORED_KEYS) and k not in unread}


def group_runs(runs: list[Run], by: str | None = None) -> list[Group]:
    """Runs equal in every config key but the seed (or equal in `by`), in order of first appearance.
    `by="row"` groups by the run dir's name without its seed suffix (a sweep's variant × grid point)."""
    if by == "row":
        rows: dict[str, list[Run]] = {}
        for r in runs:
            rows.setdefault(re.sub(r"(__|-)s\d+$", "", r.path.name), []).append(r)
        return [Group(name, g, {"row": name}) for name, g in rows.items()]  # already readable
    if by is not None:
        missing = [r.path for r in runs if by not in r.config]
        if missing:
            keys = ", ".join(sorted(_identity(runs[0])))
            raise ConfigError(f"--by: {missing[0]} has no config key {by!r}; accepted: {keys}")
        groups: dict[Any, list[Run]] = {}
        for r in runs:
            groups.setdefault(repr(r.config[by]), []).append(r)
        keyed = [{by: g[0].config[by]} for g in groups.values()]
        return [Group(readable_label(k), g, k) for k, g in zip(keyed, groups.values())]
    groups = {}
    for r in runs:
        groups.setdefault(repr(sorted(_identity(r).items())), []).append(r)
    keyed = label_keys([_identity(g[0]) for g in groups.values()])
    labels = [readable_label(vals) for vals in keyed]
    if len(set(labels)) < len(labels):  # two groups would read alike: the older key=value labels
        labels = [long_label(vals) for vals in keyed]
    return [Group(label, g, vals) for label, g, vals in zip(distinct(labels), groups.values(), keyed)]


def distinct(labels: list[str]) -> list[str]:
    """Labels as given, a repeated one numbered (`mixup #2`): two rows of a table never read alike (a
    value whose text is the same for different values, `1` and `'1'`, would otherwise share a label)."""
    out: list[str] = []
    for label in labels:
        n, name = 1, label
        while name in out:
            n += 1
            name = f"{label} #{n}"
        out.append(name)
    return out


def check_seeds(groups: list[Group]) -> None:
    """Refuse two runs of one group with the same config and seed (`run-s0` and `run-s0-2`, the same seeds
    run twice into one folder): pooled, one seed would count twice and n would be inflated."""
    for g in groups:
        seen: dict[str, Run] = {}
        for r in g.runs:
            key = repr((r.seed, sorted(_identity(r).items())))
            if key in seen:
                raise ConfigError(f"{seen[key].path} and {r.path}: the same experiment with the same seed "
                                  f"({r.seed}) in group {g.label!r}; accepted: one run per seed in a group "
                                  "(remove or move one of them)")
            seen[key] = r


def num_modes(run: Run) -> int | None:
    """Modes of the run's toy data set (ring8 = 8, grid25 = 25), from mixgan.data.GAN_DATA."""
    from mixgan.data import GAN_DATA
    if not is_toy_gan(run.config):
        return None
    return GAN_DATA[run.config["data.name"]]().num_modes


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def run_stats(run: Run) -> dict[str, float | None]:
    """Per-run figures; None where the run has nothing to say (no such metric, or it did not finish).

    A diverged run is a result and counts; a failed, interrupted or unfinished one has no end to report.
    """
    k, final = num_modes(run), run.final
    if run.status not in ("completed", "diverged"):
        return {}
    modes = [v for _, v in run.series("quality/modes")]
    out: dict[str, float | None] = {c: final.get(col.tag) for c, col in COLUMNS.items() if col.final}
    out.update({"all_modes": None, "collapsed": None, "first_all_modes": None,
                "mode_drops": float(sum(b < a for a, b in zip(modes, modes[1:]))) if modes else None})
    if k is not None:
        diverged = run.status == "diverged"
        end = out["modes"] if out["modes"] is not None and math.isfinite(out["modes"]) else 0.0
        out["all_modes"] = float(not diverged and end >= k)
        out["collapsed"] = float(diverged or end <= k / 2)  # collapsed: at most half the modes
        first = [s for s, v in run.series("quality/modes") if v >= k]
        out["first_all_modes"] = float(first[0]) if first else math.inf
    for tag, name in (("stability/grad_norm_D", "grad_D"), ("stability/grad_input_real", "grad_input")):
        vals = _finite([v for _, v in run.series(tag)])
        out[f"{name}_mean"] = statistics.fmean(vals) if vals else None
        out[f"{name}_max"] = max(vals) if vals else None
    total = run.summary.get("total") or (run.last_step or 0)
    late = _finite([v for s, v in run.series("loss/D") if s > total / 2])
    out["var_loss_D"] = statistics.pvariance(late) if len(late) >= 2 else None
    out.update(quality_stats(final, run.series))  # density, coverage, ..., N large, spread in the run
    out.update({name: final.get(c.tag) for name, c in COLUMNS.items() if c.logged})
    return out


@contextlib.contextmanager
def logged_columns(runs: list[Run]) -> Iterator[None]:
    """While comparing runs of a loop of your own (task custom, mixgan.run_logger): one column per
    metric they logged (its final value, mean ± std over seeds), besides the built-in columns."""
    from mixgan.report.runs import MEASURED
    from mixgan.report.tables import standard_columns
    from mixgan.tasks import CUSTOM_TASK

    # A tag the table already shows (as a column of the runs' tasks) gets no column of its own; every
    # other logged tag does, a built-in name such as loss/D included (only var loss/D is standard).
    tags = {COLUMNS[c].tag for c in standard_columns(dict.fromkeys(task_of(r.config) for r in runs))}
    # a train_gan run on toy data: its own metrics (evaluate), not mixgan's toy measurement again
    names = sorted({k for r in runs if r.config.get("task") == CUSTOM_TASK for k in r.final
                    if not (is_toy_gan(r.config) and k.startswith(MEASURED))} - tags)
    added = {n: Column(n, "mean_std", n, logged=True) for n in names if n not in COLUMNS}
    COLUMNS.update(added)
    try:
        yield
    finally:
        for n in added:
            del COLUMNS[n]


def summarize(groups: list[Group], columns: list[str]) -> list[dict[str, Any]]:
    """One row per group: label, seed counts, and each column pooled over seeds (report/tables.pool):
    means over the completed seeds only, fractions (collapse, all modes) over every finished seed."""
    table = []
    for g in groups:
        stats = [run_stats(r) for r in g.runs]
        row: dict[str, Any] = {"label": g.label, "keys": g.keys, "seeds": len(g.runs),
                               "diverged": sum(r.status == "diverged" for r in g.runs),
                               "unfinished": sum(r.status not in ("completed", "diverged") for r in g.runs),
                               "num_modes": num_modes(g.runs[0]), "runs": [str(r.path) for r in g.runs]}
        for c in columns:
            how = COLUMNS[c].pool
            vals = [s.get(c) for r, s in zip(g.runs, stats) if how == "fraction" or r.status == "completed"]
            row[c] = pool(vals, how)
            row.setdefault("values", {})[c] = [v for v in vals if v is not None]
        table.append(row)
    return table


RUN_LENGTH = (("train.iterations", "iterations"), ("train.steps", "iterations"), ("train.epochs", "epochs"))


def caption(groups: list[Group]) -> str:
    """The line above the table: the data sets and run lengths of all runs (labels name only what differs)."""
    runs = [r for g in groups for r in g.runs]
    data = []
    for r in runs:
        name = r.config.get("data.name", r.config.get("task", "?"))
        k = num_modes(r)
        data.append(f"{name} ({k} modes)" if k else str(name))
    lengths = []
    for key, unit in RUN_LENGTH:
        values = sorted({r.config[key] for r in runs if key in r.config})
        lengths += [f"{', '.join(map(str, values))} {unit}"] if values else []
    return (f"data: {', '.join(dict.fromkeys(data))} · run length: {', '.join(lengths) or 'unknown'} "
            f"(configured) · {len(runs)} runs in {len(groups)} groups")



def reference_rows(groups: list[Group], columns: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Toy-GAN groups: the reference rows (the data, blurred modes, one mode, uniform noise, scored by the
    same code at the same sample sizes) and the verdicts against noise, as text after the table; image-GAN
    groups: the held-out real, uniform noise and one-image rows their runs measured."""
    from mixgan.report import references

    runs = [r for g in groups for r in g.runs]
    lines = references.verdict_lines(groups)
    rows = references.table_rows(runs, columns) + references.image_rows(runs, columns)  # image GANs' too
    return rows, ("\n\n" + "\n".join(lines) if lines else "")


def forest_references(groups: list[Group], columns: list[str]) -> dict[str, dict[str, float]]:
    """Reference name → column → value: the vertical lines of forest.png."""
    from mixgan.report import references

    return references.forest_lines([r for g in groups for r in g.runs], columns)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise ConfigError(message)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mixgan.compare", description=__doc__.splitlines()[0])
    clf = ", ".join(TASK_COLUMNS["classify"])
    p.add_argument("paths", nargs="+", metavar="RUN_OR_GROUP_DIR")
    p.add_argument("--out", default="compare", help="folder for table.md, table.csv, curves.png, samples.png")
    p.add_argument("--metrics", help=f"comma list of columns: {', '.join(COLUMNS)} (default: the runs' "
                                     f"task's standard ones: {clf} for classifiers, the others for GANs)")
    p.add_argument("--by", metavar="KEY", help="group by this config key (e.g. objective.name), or by "
                                                "`row` (a sweep's run names without the seed), instead of "
                                                "by everything but the seed")
    p.add_argument("--baseline", metavar="GROUP",
                   help="also report each group's difference to this group, named by its label (erm, "
                        "'mixup α=0.2'), its folder's name or path (grid25-erm), the older label "
                        "(objective.name=erm) or a unique part of a label: interval, Mann-Whitney p, "
                        "effect size, forest.png")
    p.add_argument("--step", type=int, metavar="N",
                   help="report every run as it stood at step N (its metrics row of that step), e.g. the "
                        "main job's length read off a longer study")
    p.add_argument("--no-plots", action="store_true", help="no curves.png and samples.png")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar while reading runs (none either when stderr is not a terminal)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="no TensorBoard run per group (median and 25-75%% band over its seeds)")
    return p


def compare(paths: Sequence[str | Path], out: str | Path, metrics: str | None = None, by: str | None = None,
            plots: bool = True, tensorboard: bool = True,
            baseline: str | None = None,
            step: int | None = None,
            progress: bool | None = False) -> tuple[list[Group], list[dict[str, Any]], str]:
    """Load, group, summarize; write table.md, table.csv, the plots and one TensorBoard run per group
    to `out` (with `baseline`: differences.md/.csv and forest.png too); return the Markdown. With
    `step`, every run as it stood at that step (`at_step`).

    Runs are read one at a time and each is kept only as what the report needs (report/runs.Run: its
    config, summary fields and metric columns as compact arrays; samples are read when drawn), with a
    progress bar on stderr (`progress`: None shows it when stderr is a terminal)."""
    if step is not None and step < 1:
        raise ConfigError(f"--step: got {step}; accepted: a measured step >= 1")
    runs = load_runs(paths, step, progress)
    with logged_columns(runs):
        return _compare(runs, out, metrics, by, plots, tensorboard, baseline, step)


def _compare(runs: list[Run], out: str | Path, metrics: str | None, by: str | None, plots: bool,
             tensorboard: bool, baseline: str | None,
             step: int | None = None) -> tuple[list[Group], list[dict[str, Any]], str]:
    from mixgan.report import baseline as against

    columns = parse_metrics(metrics, dict.fromkeys(task_of(r.config) for r in runs))
    if metrics is None:  # and a column per metric that runs of a loop of your own logged
        columns += [n for n, c in COLUMNS.items() if c.logged and n not in columns]
    groups = group_runs(runs, by)
    check_seeds(groups)
    table = summarize(groups, columns)
    if metrics is None and {task_of(r.config) for r in runs} == {"custom"}:
        # your loop's runs: a ‖∇θD‖ column only when they logged stability/grad_norm_D (never all "—")
        columns = [c for c in columns
                   if c not in TASK_COLUMNS["custom"] or any(row["values"][c] for row in table)]
    labels = [g.label for g in groups]
    sources = {r.path.resolve(): r.source for r in runs if r.source is not None}
    base = against.pick_baseline(group_names(groups, sources), baseline) if baseline is not None else None
    refs, verdicts = reference_rows(groups, columns)
    at = f" · every run as it stood at step {step}" if step is not None else ""
    text = caption(groups) + at + "\n\n" + markdown(table + refs, columns) + verdicts
    out = Path(out)  # every check is done: from here on, only writing
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(text + "\n\n" + NOTES + "\n")
    (out / "table.csv").write_text(to_csv(table + refs, columns))
    if base is not None:
        values = [row["values"] for row in table]
        text += "\n\n" + against.write(out, labels, values, base, columns, plots,
                                       forest_references(groups, columns))
    if plots:
        from mixgan.report.plots_compare import plot_curves, plot_samples

        tags = list(dict.fromkeys(COLUMNS[c].tag for c in columns if not COLUMNS[c].tag.startswith("final_")))
        from mixgan.report.references import curve_lines

        plot_curves(groups, tags, out / "curves.png", curve_lines([r for g in groups for r in g.runs]))
        if step is None:  # final_samples.npy holds the samples of a run's end, not of `step`
            plot_samples(groups, out / "samples.png")
    if tensorboard:
        from mixgan.report.tensorboard import write_group_runs

        write_group_runs(groups, out)
    return groups, table, text


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0, or 2 on bad input with one line on stderr)."""
    try:
        args = make_parser().parse_args(argv)
        check_writable(args.out, "--out")
        groups, _, text = compare(args.paths, args.out, args.metrics, args.by, plots=not args.no_plots,
                                  tensorboard=not args.no_tensorboard, baseline=args.baseline,
                                  step=args.step, progress=False if args.no_progress else None)
    except MixganError as err:
        print(f"mixgan.compare: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"\n{NOTES}")
    files = ["table.md", "table.csv"] + ([] if args.no_plots else ["curves.png", "samples.png"])
    print(f"wrote {', '.join(str(Path(args.out) / f) for f in files)}")
    if not args.no_tensorboard:
        print(f"one TensorBoard run per group (median, 25-75% band):  tensorboard --logdir {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `compare ... | head`: the reader left early, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
