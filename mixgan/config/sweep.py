"""Sweep files for `mixgan.ablate`: schema, validation, and expansion into named runs.

A sweep = a base config + named variants (dotted overrides) × an optional grid × seeds. Every
expanded run is validated with the task's own schema before anything runs (docs/design.md, habit 4).
"""

from __future__ import annotations

import collections
import copy
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mixgan.config.core import (
    MAX_SEEDS,
    UniqueKeyLoader,
    config_from_dict,
    parse_value,
    parse_yaml_file,
    read_yaml,
    set_dotted,
    to_dict,
)
from mixgan.errors import ConfigError

TOP_KEYS = ("name", "description", "base", "overrides", "variants", "grid", "seeds", "metrics", "paper")
VARIANT_KEYS = ("overrides", "grid", "paper")  # the long form of a variant
# Keys the runner sets itself for every run (the run's place, name and console).
RUNNER_KEYS = ("run.dir", "run.name", "run.progress", "seed")
MAX_RUNS = 10_000  # runs per sweep file, refused before they are expanded
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+=-]*(_[A-Za-z0-9.+=-]+)*$")  # no "__": it separates parts


class _SweepLoader(UniqueKeyLoader):
    """YAML with 1e-4 read as a float (YAML 1.2) and duplicate keys refused (not silently dropped)."""


_SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


def read_sweep_yaml(path: Path) -> dict[str, Any]:
    from mixgan.config.untrusted import stat_file

    if stat_file(path, 2**62) is None:
        raise ConfigError(f"sweep file not found: {path}")
    data = parse_yaml_file(path, _SweepLoader)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    return data


def cli_value(value: Any) -> str:
    """A value as `python -m mixgan.train --key=VALUE` reads it back (floats keep a YAML 1.1 form)."""
    if isinstance(value, int) and not isinstance(value, bool):  # seeds: 10,000 of them in a dry run
        return str(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def name_value(value: Any) -> str:
    """A value as it appears in a run name: 0.0001, true, ring8, 1+2."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "+".join(name_value(v) for v in value)
    return re.sub(r"[^A-Za-z0-9.+=-]+", "-", str(value)).strip("-") or "empty"


def parse_seeds(value: Any) -> list[int]:
    """`3`, `[0, 1, 2]`, `"0-4"` or `"0,3,7"` → a list of distinct seeds >= 0."""
    accepted = 'a list of integers >= 0, an integer, "0-4" or "0,3,7"'
    too_many = f"seeds: {str(value)[:60]!r} is more than {MAX_SEEDS:,} seeds; accepted: at most {MAX_SEEDS:,}"
    seeds: list[Any]
    if isinstance(value, str):
        seeds = []
        for part in value.replace(" ", "").split(","):
            lo, dash, hi = part.partition("-")
            if not (lo.isdigit() and (not dash or hi.isdigit())):
                raise ConfigError(f"seeds: got {value!r}; accepted: {accepted}")
            if dash and len(seeds) + int(hi) - int(lo) + 1 > MAX_SEEDS:  # before building the range
                raise ConfigError(too_many)
            seeds.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
    else:
        seeds = value if isinstance(value, list) else [value]
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(too_many)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds: got {value!r}; accepted: {accepted}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: {value!r} repeats a seed")
    return seeds


def _flatten(data: Any, key: str, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings become dotted keys: {objective: {name: mixup}} → objective.name."""
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: expected a mapping of dotted config keys to values, got {data!r}")
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        if not isinstance(k, str) or not k:
            raise ConfigError(f"{key}: config keys are strings, got {k!r}")
        if isinstance(v, dict):
            out.extend(_flatten(v, key, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _grid(data: Any, key: str) -> list[tuple[str, list[Any]]]:
    if data is None:
        return []
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{key}: empty or not a mapping; accepted: dotted key → non-empty list of values")
    out = []
    for k, values in data.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}.{k}: got {values!r}; accepted: a non-empty list of values")
        if len({cli_value(v) for v in values}) != len(values):
            raise ConfigError(f"{key}.{k}: {values!r} repeats a value")
        out.append((str(k), values))
    return out


def _paper(data: Any, key: str) -> dict[str, float]:
    if not isinstance(data, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in data.values()):
        raise ConfigError(f"{key}: got {data!r}; accepted: a mapping metric → number")
    return {str(k): float(v) for k, v in data.items()}


@dataclass(frozen=True)
class Run:
    """One expanded run: `<variant>__<key>=<value>...__s<seed>`, and what it sets on the base."""

    name: str
    row: str  # the name without the seed: runs of one row differ only by seed
    variant: str
    point: tuple[tuple[str, Any], ...]  # grid key → value
    seed: int
    overrides: tuple[tuple[str, Any], ...]  # sweep overrides, variant overrides, grid point, seed


@dataclass
class Sweep:
    """A validated sweep file, expanded."""

    path: Path
    name: str
    base_file: Path | None  # a preset, or None for an inline base (written to <sweep dir>/base.yaml)
    base_inline: dict[str, Any] | None
    task: str
    metrics: list[str]
    grid_keys: list[str]  # every grid key of any variant, in file order (report columns)
    runs: list[Run]
    paper: dict[str, dict[str, float]]  # row → metric → the paper's number
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run → resolved config, no run.*
    description: str = ""

    def rows(self) -> list[Run]:
        """One representative run per row, in expansion order."""
        seen: dict[str, Run] = {}
        for run in self.runs:
            seen.setdefault(run.row, run)
        return list(seen.values())

    def base_path(self, sweep_dir: Path) -> Path:
        return self.base_file if self.base_file is not None else sweep_dir / "base.yaml"

    def train_args(self, run: Run, sweep_dir: Path) -> list[str]:
        """The `python -m mixgan.train` arguments of a fresh run."""
        return ["--config", str(self.base_path(sweep_dir)), f"--run.dir={sweep_dir}",
                f"--run.name={run.name}", "--run.progress=false",
                *(f"--{k}={cli_value(v)}" for k, v in run.overrides)]


def _find_base(text: str, sweep_path: Path) -> Path:
    """A preset path: absolute, next to the sweep file, in the current dir, or in the repo."""
    repo = Path(__file__).resolve().parents[2]  # mixgan/config/sweep.py -> the repo
    for cand in (Path(text), sweep_path.parent / text, Path.cwd() / text, repo / text):
        if cand.is_file():
            return cand.resolve()
    raise ConfigError(f"base: preset {text!r} not found next to {sweep_path}, in the current dir or the repo")


def _check_keys(pairs: list[tuple[str, Any]], where: str) -> None:
    for k, _ in pairs:
        if k in RUNNER_KEYS:
            what = "seeds" if k == "seed" else "the runner"
            raise ConfigError(f"{where}: {k} is set by {what}; remove it")


def _variant(name: Any, spec: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, list[Any]]], dict | None]:
    where = f"variants.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"variants: name {name!r} not accepted; accepted: letters, digits, . + = - and "
                          f"single underscores")
    if isinstance(spec, dict) and spec and set(spec) <= set(VARIANT_KEYS):  # long form
        overrides = _flatten(spec.get("overrides"), f"{where}.overrides")
        grid = _grid(spec.get("grid"), f"{where}.grid")
        paper = _paper(spec["paper"], f"{where}.paper") if "paper" in spec else None
    else:
        overrides, grid, paper = _flatten(spec, where), [], None
    _check_keys(overrides, where)
    _check_keys([(k, None) for k, _ in grid], f"{where}.grid")
    return overrides, grid, paper


def _variants(data: dict[str, Any]) -> dict[Any, Any]:
    """The file's `variants:` mapping, or a one-line ConfigError."""
    variants = data.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise ConfigError("variants: accepted: a non-empty mapping name → dotted overrides")
    return variants


def variant_overrides(path: str | Path) -> dict[str, list[tuple[str, Any]]]:
    """A sweep file's variants → each one's own overrides (without the file's common overrides, grid
    or seeds): what a variant changes on any base, e.g. for the bench's stabilizer rows."""
    return {name: _variant(name, spec)[0] for name, spec in _variants(read_sweep_yaml(Path(path))).items()}


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand a sweep file; any problem is a one-line ConfigError."""
    path = Path(path)
    data = read_sweep_yaml(path)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown sweep key {unknown[0]}; accepted: {', '.join(TOP_KEYS)}")
    for key in ("base", "variants", "seeds"):  # no `metrics:`: the task's standard ones (_validate_runs)
        if key not in data:
            raise ConfigError(f"{path}: missing key {key}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}", name):
        shown = name if not isinstance(name, str) or len(name) <= 40 else f"{name[:20]}… ({len(name)} chars)"
        raise ConfigError(f"name: got {shown!r}; accepted: letters, digits, . _ = + -, at most 128 "
                          "characters (it names the sweep dir)")
    base = data["base"]
    if isinstance(base, str):
        base_file, base_data = _find_base(base, path), None
    elif isinstance(base, dict):
        base_file, base_data = None, base
    else:
        raise ConfigError(f"base: got {base!r}; accepted: a preset path or a config mapping")
    common = _flatten(data.get("overrides"), "overrides")
    _check_keys(common, "overrides")
    top_grid = _grid(data["grid"], "grid") if "grid" in data else []
    _check_keys([(k, None) for k, _ in top_grid], "grid")
    seeds = parse_seeds(data["seeds"])
    metrics = data.get("metrics")  # None (absent or empty): filled in once the task is known
    if metrics is not None and (not isinstance(metrics, list) or not metrics
                                or not all(isinstance(m, str) and m for m in metrics)
                                or len(set(metrics)) != len(metrics)):
        raise ConfigError(f"metrics: got {metrics!r}; accepted: a non-empty list of distinct summary.final "
                          "keys (e.g. quality/modes, test/error), or none (the task's standard ones)")
    variants = _variants(data)

    runs: list[Run] = []
    paper: dict[str, dict[str, float]] = {}
    grid_keys: list[str] = [k for k, _ in top_grid]
    for vname, spec in variants.items():
        overrides, vgrid, vpaper = _variant(vname, spec)
        grid = [(k, vals) for k, vals in top_grid if k not in dict(vgrid)] + vgrid
        clash = sorted({k for k, _ in overrides} & {k for k, _ in grid})
        if clash:
            raise ConfigError(f"variants.{vname}: {clash[0]} is both overridden and swept by a grid")
        grid_keys += [k for k, _ in vgrid if k not in grid_keys]
        n_runs = len(runs) + math.prod(len(vals) for _, vals in grid) * len(seeds)
        if n_runs > MAX_RUNS:  # counted before the runs are built (a typo can make millions)
            raise ConfigError(f"variants × grid × seeds make more than {MAX_RUNS:,} runs (at least "
                              f"{n_runs:,}); accepted: at most {MAX_RUNS:,} per sweep file")
        for values in itertools.product(*(vals for _, vals in grid)):
            point = tuple((k, v) for (k, _), v in zip(grid, values))
            row = "__".join([vname, *(f"{k}={name_value(v)}" for k, v in point)])
            if vpaper is not None:
                paper[row] = dict(vpaper)
            for seed in seeds:
                # Each key once (the command line refuses a key given twice): a variant's value
                # replaces the sweep-wide one, as the file reads.
                runs.append(Run(f"{row}__s{seed}", row, vname, point, seed,
                                tuple(dict([*common, *overrides, *point, ("seed", seed)]).items())))
    _paper_rows(data.get("paper"), paper, runs, variants)
    counts = collections.Counter(r.name for r in runs)
    dup = next((n for n, c in counts.items() if c > 1 or len(n) > 128), None)
    if dup is not None:
        raise ConfigError(f"run name {dup} is not unique (or longer than 128 characters); rename a variant "
                          f"or a grid value")
    sweep = Sweep(path, name, base_file, base_data, "", list(metrics or []), grid_keys, runs, paper,
                  description=str(data.get("description", "")))
    _validate_runs(sweep)
    for row, values in paper.items():
        bad = sorted(set(values) - set(sweep.metrics))
        if bad:
            raise ConfigError(f"paper ({row}): metric {bad[0]} is not in metrics: {', '.join(sweep.metrics)}")
    return sweep


def _paper_rows(data: Any, paper: dict[str, dict[str, float]], runs: list[Run], variants: dict) -> None:
    """Top-level `paper:` keyed by a row (`erm__train.weight_decay=0.0001`) or a whole variant."""
    if data is not None:
        if not isinstance(data, dict):
            raise ConfigError(f"paper: got {data!r}; accepted: a mapping row or variant → metric → number")
        rows = {r.row: r.variant for r in runs}
        for key, values in data.items():
            targets = [key] if key in rows else [r for r, v in rows.items() if v == key]
            if not targets:
                raise ConfigError(f"paper: {key!r} is neither a variant nor a row; accepted: "
                                  f"{', '.join(list(variants)[:6])}, or <variant>__<key>=<value>")
            for row in targets:
                paper.setdefault(row, {}).update(_paper(values, f"paper.{key}"))


def _validate_runs(sweep: Sweep) -> None:
    """Build each run's config exactly as the trainer will (values round-tripped through the CLI)."""
    from mixgan.tasks import TASKS as TRAINERS

    base = read_yaml(sweep.base_file) if sweep.base_file is not None else sweep.base_inline
    rows: dict[str, dict[str, Any]] = {}
    reported: set[str] = set()  # the metric names any run of the sweep reports
    for run in sweep.runs:
        if run.row in rows:  # another seed (>= 0, checked) of a row built already: nothing else differs
            sweep.configs[run.name] = {**rows[run.row], "seed": run.seed}  # sections shared: read-only
            continue
        data = copy.deepcopy(base)
        try:
            for key, value in run.overrides:
                sent = parse_value(cli_value(value))
                if sent != value:
                    raise ConfigError(f"{key}: value {value!r} cannot be passed on the command line")
                set_dotted(data, key, sent)
            cfg = config_from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"run {run.name}: {err}") from None
        if cfg.task not in TRAINERS:
            raise ConfigError(f"task: {cfg.task!r} has no trainer; accepted: {', '.join(TRAINERS)}")
        if sweep.task and cfg.task != sweep.task:
            raise ConfigError(f"run {run.name}: task {cfg.task} differs from the sweep's task {sweep.task}")
        sweep.task = cfg.task
        resolved = to_dict(cfg)
        resolved.pop("run", None)
        sweep.configs[run.name] = rows[run.row] = resolved
        reported |= _trainer(cfg.task).metric_names(cfg)
    if not sweep.metrics:  # the sweep names none: the final values of the columns compare shows
        from mixgan.report.tables import standard_metrics

        sweep.metrics = [m for m in standard_metrics(sweep.task) if m in reported]
        if not sweep.metrics:
            standard = ", ".join(standard_metrics(sweep.task))
            raise ConfigError(f"metrics: none given, and no run of this sweep reports the {sweep.task} "
                              f"task's standard ones ({standard}); accepted: a list of "
                              f"{', '.join(sorted(reported))}")
    unknown = [m for m in sweep.metrics if m not in reported]
    if unknown:  # a typo here would show only after training, as an empty column
        raise ConfigError(f"metrics: {unknown[0]} is reported by no run of this sweep; accepted: "
                          f"{', '.join(sorted(reported))}")


def _trainer(task: str) -> Any:
    """The trainer class of a task (imported only now)."""

    from mixgan.tasks import trainer_class

    return trainer_class(task)


def select(runs: list[Run], patterns: list[str]) -> list[Run]:
    """Runs whose name matches any glob (a pattern without * ? [ matches as a substring)."""
    from fnmatch import fnmatchcase

    if not patterns:
        return list(runs)
    globs = [p if any(c in p for c in "*?[") else f"*{p}*" for p in patterns]
    return [r for r in runs if any(fnmatchcase(r.name, g) for g in globs)]
