"""PacGAN's Table 1 beside ours: mean ± s.e. over seeds of the runs of a sweep on PacGAN's protocol.

    python scripts/pacgan_table1.py runs/ablation/pacgan_table1_cpu [--step N] [--out docs]
    python scripts/pacgan_table1.py runs/ablation/pacgan_mixup_cpu runs/ablation/pacgan_table1_cpu \
        --name pacgan_mixup --baseline gan,pacgan4 [--rows gan,pacgan4,mixup_paper,mixup_demo]

Reads the sweeps' run dirs (rows named by the sweep: gan, pacgan4, mixup_paper, ...; several sweeps on
one protocol, e.g. item 5's rows beside Table 1's, are read as one), takes every run at step N
(default: the last step every run has reached, so a study still training is reported at one length),
and writes OUT/NAME_table.md (the paper's rows and ours with the same statistics, reference
rows scored by the same code, the differences to each baseline with bootstrap intervals and
Mann–Whitney p, and when each method's seeds left uniform noise's level for good),
OUT/NAME_curves.png (modes and high quality over iterations, mean ± s.e., the paper's values
dashed) and OUT/NAME_samples.png (2,500 samples of the first seeds' latest checkpoints).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixgan.errors import ConfigError, MixganError
from mixgan.report.runs import Run, at_step, load_runs
from mixgan.report.stats import difference

# PacGAN Table 1 (Lin et al. 2018): mean ± s.e. over 10 trials; modes / high quality % / reverse KL.
PAPER = {
    "grid25": {"gan": (17.3, 0.8, 94.8, 0.7, 0.70, 0.07), "pacgan2": (23.8, 0.7, 91.3, 0.8, 0.13, 0.04),
               "pacgan3": (24.6, 0.4, 94.2, 0.4, 0.06, 0.02), "pacgan4": (24.8, 0.2, 93.6, 0.6, 0.04, 0.01)},
    "ring8": {"gan": (6.3, 0.5, 98.2, 0.2, 0.45, 0.09), "pacgan2": (7.9, 0.1, 95.6, 2.0, 0.07, 0.03),
              "pacgan4": (7.8, 0.1, 95.9, 1.4, 0.07, 0.02)},
}
COLUMNS = (("modes", "quality/modes", 1.0), ("high quality %", "quality/high_quality", 100.0),
           ("reverse KL", "quality/reverse_kl", 1.0), ("density", "quality/density", 1.0),
           ("coverage", "quality/coverage", 1.0))


def row_name(run: Run) -> str:
    return run.path.name.split("__s")[0]


def mean_se(values: list[float]) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    return float(x.mean()), (float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan"))


def references(config: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """The reference generators of metrics/toy_reference.py scored on this geometry, 2,500 samples."""
    from mixgan.data import GAN_DATA
    from mixgan.metrics.toy import ToyReference
    from mixgan.metrics.toy_reference import reference_scores

    data = GAN_DATA[config["data.name"]](std=config["data.std"], radius=config["data.radius"],
                                         spacing=config["data.spacing"])
    ref = ToyReference(data, 2500, 2500, torch.device("cpu"), config["metrics.hq_sigmas"])
    return reference_scores(ref, {"quality/": 2500})


def table(groups: dict[str, list[Run]], step: int, data: str, refs: dict[str, dict[str, list[float]]]) -> str:
    head = "| generator | seeds | " + " | ".join(c for c, _, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, runs in groups.items():
        if name in PAPER.get(data, {}):
            p = PAPER[data][name]
            lines.append(f"| *paper:* {name} (400 epochs) | 10 | {p[0]} ± {p[1]} | {p[2]} ± {p[3]} | "
                         f"{p[4]:.2f} ± {p[5]:.2f} | — | — |")
        cells = []
        for _, tag, scale in COLUMNS:
            m, se = mean_se([scale * float(r.final[tag]) for r in runs])
            cells.append(f"{m:.3g} ± {se:.2g}")
        lines.append(f"| **ours:** {name} ({step:,} it.) | {len(runs)} | " + " | ".join(cells) + " |")
    for ref_name, vals in refs.items():
        cells = []
        for _, tag, scale in COLUMNS:
            v = [scale * x for x in vals[tag]]
            cells.append(f"{np.mean(v):.3g}" + (f" ± {np.std(v, ddof=1) / np.sqrt(len(v)):.2g}" if len(v) > 1
                                                 else ""))
        draws = len(vals[COLUMNS[0][1]])
        lines.append(f"| *reference:* {ref_name} | {draws} draws | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def differences(groups: dict[str, list[Run]], baseline: str, skip: tuple[str, ...] = ()) -> str:
    """Each row minus `baseline`, but the rows in `skip` (baselines already differenced above)."""
    lines = ["| vs " + baseline + " | " + " | ".join(c for c, _, _ in COLUMNS) + " |", "|" + "---|" * 6]
    for name, runs in groups.items():
        if name == baseline or name in skip:
            continue
        cells = []
        for _, tag, scale in COLUMNS:
            d = difference([scale * float(r.final[tag]) for r in runs],
                           [scale * float(r.final[tag]) for r in groups[baseline]])
            ci = f" [{d.low:.3g}, {d.high:.3g}]" if d.low is not None else ""
            cells.append(f"{d.delta:+.3g}{ci}, p = {d.p_value:.2g}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def takeoff(groups: dict[str, list[Run]], refs: dict[str, dict[str, list[float]]]) -> str:
    """When each group's seeds left uniform noise's level for good: the first evaluation from which the
    run-health verdict (metrics/health.py) never again calls the run noise-level (density and coverage
    both at most noise's level)."""
    from mixgan.metrics.health import NAMES, References, judge

    health = References({short: refs[NAMES[short]] for short in ("noise", "one mode")})
    dens, cov = (health.noise_level(t) for t in ("quality/density", "quality/coverage"))
    lines = []
    for name, runs in groups.items():
        found, last = [], 0
        for run in runs:
            d, c = dict(run.series("quality/density")), dict(run.series("quality/coverage"))
            steps = sorted(set(d) & set(c))
            last = max(last, steps[-1])
            below = [i for i, s in enumerate(steps) if judge(
                {"quality/density": d[s], "quality/coverage": c[s]}, health).verdict == "noise-level"]
            start = below[-1] + 1 if below else 0
            if start < len(steps):
                found.append(steps[start])
        found.sort()
        when = f"median {int(np.median(found)):,}, range {found[0]:,}–{found[-1]:,}" if found else "none"
        lines.append(f"- {name}: {len(found)} of {len(runs)} seeds are above uniform noise's density "
                     f"{dens:.3g} or coverage {cov:.3g} at every evaluation from the step ({when}) to "
                     f"their last (up to {last:,})")
    return "\n".join(lines)


def curves(groups: dict[str, list[Run]], data: str, refs: dict[str, dict[str, list[float]]],
           path: Path) -> None:
    """Modes, high quality and reverse KL over iterations, mean ± s.e. over each group's seeds, every
    step that all its seeds have logged (a group further along shows further); the paper's values
    dashed, uniform noise's and one mode's (same code, same sample size) dotted grey."""
    from mixgan.metrics.toy_reference import NOISE
    from mixgan.report.plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=90)
    for name, runs in groups.items():
        for ax, (label, tag, scale) in zip(axes, COLUMNS[:3]):
            common = set.intersection(*({s for s, _ in r.series(tag)} for r in runs))
            steps = sorted(common)
            arr = np.asarray([[scale * v for s, v in r.series(tag) if s in common] for r in runs])
            m, se = arr.mean(0), arr.std(0, ddof=1) / np.sqrt(len(arr))
            line, = ax.plot(steps, m, label=f"ours: {name}")
            ax.fill_between(steps, m - se, m + se, alpha=0.25, color=line.get_color())
            if name in PAPER.get(data, {}):
                p = PAPER[data][name]
                ax.axhline(p[2 * COLUMNS.index((label, tag, scale))], ls="--", color=line.get_color(),
                           lw=1, label=f"paper: {name} at 400k it.")
            ax.set_title(label)
            ax.set_xlabel("iteration")
    for ax, (_, tag, scale) in zip(axes, COLUMNS[:3]):
        for ref, style in ((NOISE, ":"), ("all mass on one mode", "-.")):
            ax.axhline(scale * float(np.mean(refs[ref][tag])), ls=style, color="0.5", lw=1,
                       label="uniform noise" if ref == NOISE else "one mode")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def samples(groups: dict[str, list[Run]], path: Path, per_row: int = 5) -> None:
    """2,500 samples of each group's first seeds, from their latest checkpoints (population BN stats)."""
    from mixgan.config.core import config_from_dict
    from mixgan.report.plots import _plt
    from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
    from mixgan.trainers.gan import toy_net

    plt = _plt()
    fig, axes = plt.subplots(len(groups), per_row, figsize=(2.2 * per_row, 2.3 * len(groups)), dpi=80,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (name, runs) in enumerate(groups.items()):
        for j, run in enumerate(sorted(runs, key=lambda r: r.seed)[:per_row]):
            ax = axes[i, j]
            if not (run.path / CHECKPOINT).is_file():  # run dirs kept without their checkpoints
                continue
            state = load_checkpoint(run.path / CHECKPOINT)
            cfg = config_from_dict(state["config"])
            G = toy_net(cfg.model, "g", cfg.model.latent_dim, 2).eval()
            G.load_state_dict(state["trainer"]["G"])
            z = torch.randn(2500, cfg.model.latent_dim, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                x = G(z).numpy()
            ax.axis("on")
            means = torch.tensor([[i, j] for i in range(-4, 5, 2) for j in range(-4, 5, 2)]) \
                if cfg.data.name == "grid25" else None
            if means is not None:
                ax.scatter(means[:, 0], means[:, 1], s=12, c="0.6", marker="+")
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4)
            lim = 5.5 if cfg.data.name == "grid25" else 1.6
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name} s{run.seed}, {state['step']:,} it.", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def rows_named(flag: str, value: str, found: list[str]) -> list[str]:
    """The rows of a comma list (`--rows`, `--baseline`), each one of `found`, or a one-line error."""
    names = [r for r in value.split(",") if r]
    unknown = [r for r in names if r not in found]
    if unknown:
        raise ConfigError(f"{flag} {','.join(unknown)}: no such row; the rows are {', '.join(found)}")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", nargs="+", help="the sweeps' folders (runs/ablation/pacgan_table1_cpu)")
    p.add_argument("--step", type=int, default=0, help="report every run at this step (0: the last common)")
    p.add_argument("--out", default="docs", help="folder for the table and pictures")
    p.add_argument("--baseline", default="gan", help="row(s) to difference against, comma list")
    p.add_argument("--name", default="pacgan_table1", help="stem of the files written (NAME_table.md ...)")
    p.add_argument("--rows", default="", help="only these rows, comma list (default: every row found)")
    args = p.parse_args(argv)
    try:
        runs = load_runs(args.sweep)
        if not runs:
            raise ConfigError(f"{', '.join(args.sweep)}: no run dirs found")
        protocols = {(r.config["data.name"], r.config.get("model.g.name"), r.config.get("model.d.name"))
                     for r in runs}
        if len(protocols) > 1:
            raise ConfigError(f"the runs are on {len(protocols)} protocols (data, G, D: "
                              f"{sorted(protocols)}); read one protocol's sweeps at a time")
        found = sorted({row_name(run) for run in runs})
        if args.rows:
            wanted = rows_named("--rows", args.rows, found)
            runs = [run for run in runs if row_name(run) in wanted]
        baselines = rows_named("--baseline", args.baseline, sorted({row_name(run) for run in runs}))
        step = args.step or min(max((r["step"] for r in run.rows), default=0) for run in runs)
        groups: dict[str, list[Run]] = {}
        for run in runs:
            groups.setdefault(row_name(run), []).append(at_step(run, step))
        missing = [r.path.name for rs in groups.values() for r in rs if r.status == "incomplete"]
        if missing:
            raise ConfigError(f"--step {step}: not reached by {', '.join(missing)}")
        # the baselines' rows first, in the order given, then the others in the sweeps' order
        groups = {k: groups[k] for k in baselines + [k for k in groups if k not in baselines]}
        data = runs[0].config["data.name"]
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        refs = references(runs[0].config)
        full = {k: [r for r in runs if row_name(r) == k] for k in groups}  # every step, for curves
        diffs = "\n\n".join(differences(groups, b, tuple(baselines[:i])) for i, b in enumerate(baselines))
        text = f"{table(groups, step, data, refs)}\n\n{diffs}\n\n{takeoff(full, refs)}\n"
        (out / f"{args.name}_table.md").write_text(text)
        curves(full, data, refs, out / f"{args.name}_curves.png")
        samples(full, out / f"{args.name}_samples.png")
    except MixganError as err:
        print(f"pacgan_table1: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"wrote {out / (args.name + '_table.md')}, {args.name}_curves.png, {args.name}_samples.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
