"""Shared by the classification experiment scripts: run variants × seeds in this one process (the
torch import is paid once), reuse completed runs, load trained models, and write mean ± std tables.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import torch

from mixgan.config.core import config_from_dict
from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import main


def train_runs(root: Path, variants: dict[str, list[str]], seeds: list[int], base: list[str],
               verbose: bool = True) -> dict[str, list[Path]]:
    """Train every variant (extra CLI args) for every seed under root/<variant>-s<seed>.

    A run dir whose summary.json says "completed" is reused, so an interrupted script resumes where
    it stopped; a half-written one is an error to look at, not something to overwrite.
    """
    out: dict[str, list[Path]] = {}
    for name, extra in variants.items():
        for seed in seeds:
            run_dir = root / f"{name}-s{seed}"
            summary = run_dir / "summary.json"
            if not (summary.exists() and json.loads(summary.read_text())["status"] == "completed"):
                args = [*base, *extra, f"--seed={seed}", f"--run.dir={root}", f"--run.name={run_dir.name}",
                        "--run.progress=false"]
                if verbose:
                    print("python -m mixgan.train " + " ".join(args), flush=True)
                code = main(args)
                if code != 0:
                    raise SystemExit(f"run {run_dir} failed with exit code {code}")
            out.setdefault(name, []).append(run_dir)
    return out


def final(run_dir: Path) -> dict[str, float]:
    """The final metrics of a finished run (summary.json)."""
    return json.loads((run_dir / "summary.json").read_text())["final"]


def load_trained(run_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, Any, Any]:
    """(model in eval mode, config, data) of a finished run, rebuilt from its checkpoint."""
    from mixgan.data.classify import NORMALIZATION, load_classify_data
    from mixgan.models.classify import make_classifier

    state = load_checkpoint(run_dir / CHECKPOINT)
    cfg = config_from_dict(state["config"])
    data = load_classify_data(cfg.data, cfg.seed).to(torch.device(device))
    model = make_classifier(cfg.model, data.in_shape, data.num_classes, NORMALIZATION.get(cfg.data.name))
    model.load_state_dict(state["trainer"]["model"])
    return model.to(device).eval(), cfg, data


def mean_std(values: list[float], digits: int = 2) -> str:
    """"m ± s (n)" over seeds (sample std; n = 1 shows no spread)."""
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return "n/a"
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {s:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_results(root: Path, title: str, command: str, table: str, raw: dict[str, Any]) -> None:
    """root/results.md (the table and the command that made it) and root/results.json (raw values)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.md").write_text(f"# {title}\n\n```\n{command}\n```\n\n{table}")
    (root / "results.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"\n{title}\n\n{table}\nwritten to {root / 'results.md'}")
