"""TensorBoard runs for `mixgan.compare`: one run per group, the median and 25–75% band over its seeds.

`tensorboard --logdir REPORT` then shows one line per group (per objective) instead of one per seed:
every metric `<tag>` of the runs' metrics.jsonl becomes `<tag>/median`, `<tag>/q25` and `<tag>/q75`
(the same numbers as curves.png), and a custom-scalars section draws each as a margin chart (the
median with its band). Read from metrics.jsonl like the rest of compare, never from event files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mixgan.report.plots_compare import band

SECTION = "Over seeds: median, 25–75% band"
STATS = ("median", "q25", "q75")


def metric_tags(runs: list[Any]) -> list[str]:
    """Every numeric metric the runs logged, in first-seen order (step and time are not metrics)."""
    return list(dict.fromkeys(tag for run in runs for tag in run.tags()))  # rows hold numbers only


# What a folder name cannot hold here or on other systems; spaces, commas and α stay (TensorBoard
# shows the folder as the run's name: `mixup α=0.2`).
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]+')


def group_dir(out: Path, label: str) -> Path:
    """The group's TensorBoard run folder in the report, named by its readable label (`erm`,
    `mixup α=0.2`): path separators and characters file systems refuse become `-`."""
    name = _UNSAFE.sub("-", label).strip(" .-")[:128]
    return out / (name or "group")


def write_group_runs(groups: list[Any], out: str | Path) -> list[Path]:
    """One TensorBoard run per group under `out`; returns their folders.

    A group's earlier event files (a previous compare into the same folder) are replaced, as
    table.md is, so that TensorBoard does not show the old curves twice.
    """
    from torch.utils.tensorboard import SummaryWriter

    out = Path(out)
    written = []
    for g in groups:
        tags = metric_tags(g.runs)
        folder = group_dir(out, g.label)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
        writer = SummaryWriter(str(folder))
        try:
            # Margin charts: exact tag names (value, lower, upper); TensorBoard merges the same
            # layout from every group run, skipping duplicate charts.
            writer.add_custom_scalars({SECTION: {tag: ["Margin", [f"{tag}/{s}" for s in STATS]]
                                                 for tag in tags}})
            for tag in tags:
                steps, med, lo, hi = band(g.runs, tag)
                for step, values in zip(steps, zip(med, lo, hi)):
                    for stat, value in zip(STATS, values):
                        writer.add_scalar(f"{tag}/{stat}", float(value), int(step))
            writer.add_text("group", f"{g.label}: {len(g.runs)} seeds "
                                     f"({', '.join(str(r.path) for r in g.runs)})", 0)
        finally:
            writer.close()
        written.append(folder)
    return written
