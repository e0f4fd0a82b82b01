"""Reading a run dir that mixgan may not have written (compare, sweep reports, resume, ablate).

Every file goes through the limits of config/untrusted.py; then config.yaml is checked against the
same typed schema as a fresh run (`config_from_dict`), and summary.json and each metrics.jsonl row
against the fields and types docs/run-dir.md documents, before any arithmetic. A foreign or
hand-edited run dir is one ConfigError naming the file and the field.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path
from typing import Any

from mixgan.config.untrusted import MAX_YAML_BYTES, parse_yaml, read_text, stat_file
from mixgan.errors import ConfigError
from mixgan.rundir.paths import FAILED, SUMMARY

CONFIG, METRICS = "config.yaml", "metrics.jsonl"
STATUSES = ("completed", "diverged", "interrupted", "failed")
FINISHED = ("completed", "diverged")  # a diverged run is a result, not something to redo
_INT64 = 2**63
# summary.json: the fields a reader does arithmetic on, and their kinds (docs/run-dir.md)
_SUMMARY_INTS = ("step", "total", "diverged_at")
_SUMMARY_NUMBERS = ("wall_time_s",)


def is_number(v: Any) -> bool:
    """A JSON number a reader may do float arithmetic on: a float (NaN/inf: a diverged run) or an int
    that fits in 64 bits (a bigger one overflows float())."""
    if isinstance(v, bool):
        return False
    return isinstance(v, float) or (isinstance(v, int) and -_INT64 <= v < _INT64)


def _is_step(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < _INT64


def read_config(path: Path) -> dict[str, Any]:
    """A run dir's config.yaml as nested data, checked against the task's schema (as a fresh run's)."""
    from mixgan.config.core import config_from_dict

    where = path / CONFIG
    data = _parse_config(where, read_text(where, MAX_YAML_BYTES, accepted="a YAML file"))
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a config mapping (a {type(data).__name__}); accepted: the config "
                          "mixgan.train saves")
    from mixgan.tasks import CUSTOM_TASK

    if data.get("task") == CUSTOM_TASK:  # a loop of the user's own (mixgan.run_logger): no schema
        if not isinstance(data.get("seed"), int) or isinstance(data.get("seed"), bool):
            raise ConfigError(f"{where}: seed is {_short(data.get('seed'))}; accepted: an integer")
        return data
    try:
        config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return data


# `seed: N` on a line of its own at the top level: the one line the configs of a sweep's seeds differ in.
_SEED_LINE = re.compile(r"^seed: (0|[1-9][0-9]{0,18})\n", re.M)


def _parse_config(where: Path, text: str) -> Any:
    """config.yaml's data (the limits of config/untrusted.py, no key twice). Configs equal but for
    their top-level `seed: N` line are parsed once (PyYAML in Python takes ~35 ms a config: 6 minutes
    for the 10,000 runs compare may read), each run getting its own copy with its seed."""
    from mixgan.config.core import UniqueKeyLoader

    found = list(_SEED_LINE.finditer(text))
    if len(found) == 1:
        m = found[0]
        template = text[:m.start()] + "seed: 0\n" + text[m.end():]
        data = _parsed_template(template, text.count("\n", 0, m.start()))
        if data is not None:
            data = copy.deepcopy(data)
            data["seed"] = int(m.group(1))
            return data
    return parse_yaml(text, str(where), UniqueKeyLoader)  # also every error, in its one line


@functools.lru_cache(maxsize=8)
def _parsed_template(text: str, line: int) -> dict[str, Any] | None:
    """The data of `text` if it parses within the limits and its top-level key `seed` is the plain key at
    the start of `line` (not a look-alike line inside a flow mapping) with the value 0; else None (the
    caller parses the config itself). Shared: callers copy it."""
    import yaml

    from mixgan.config.core import UniqueKeyLoader

    loader = UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return None
        keys = [k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == "seed"]
        where = [(k.start_mark.line, k.start_mark.column, k.style) for k in keys]
        if where != [(line, 0, None)]:
            return None
        data = loader.construct_document(node)
    except Exception:  # noqa: BLE001 (any error: parsed again, uncached, for its one line)
        return None
    finally:
        loader.dispose()
    return data if isinstance(data, dict) and data.get("seed") == 0 else None


def check_summary(where: Path, summary: Any) -> dict[str, Any]:
    """summary.json's documented fields with their types; the summary itself."""
    if not isinstance(summary, dict):
        raise ConfigError(f"{where}: a JSON {type(summary).__name__}, not an object with status and final")
    final = summary.get("final") or {}
    if not isinstance(final, dict) or not isinstance(summary.get("status", ""), str):
        raise ConfigError(f"{where}: 'final' must map metric names to numbers and 'status' be text")
    bad = next((k for k, v in final.items() if k != "step" and not is_number(v)), None)
    if bad is not None:
        raise ConfigError(f"{where}: final {bad!r} is {_short(final[bad])}, not a number (accepted: a "
                          "float or an integer that fits in 64 bits)")
    for key in _SUMMARY_INTS:
        if summary.get(key) is not None and not _is_step(summary[key]):
            raise ConfigError(f"{where}: {key!r} is {_short(summary[key])}, not a number; accepted: an "
                              "integer >= 0 that fits in 64 bits, or null")
    for key in _SUMMARY_NUMBERS:
        if summary.get(key) is not None and not (is_number(summary[key]) and math.isfinite(summary[key])):
            raise ConfigError(f"{where}: {key!r} is {_short(summary[key])}, not a finite number")
    return summary


def check_rows(where: Path, rows: list[dict[str, Any]], length: tuple[int, str] | None = None
               ) -> list[dict[str, Any]]:
    """Each metrics.jsonl row: an integer step >= 0 in 64 bits and numbers (a `time` of any kind), and,
    given the run's length (units, where it is read from), a step not beyond it."""
    for i, row in enumerate(rows, 1):
        if length is not None and _is_step(row.get("step")) and row["step"] > length[0]:
            raise ConfigError(f"{where}: row {i}: step {row['step']} lies beyond the run's length "
                              f"{length[0]} ({length[1]}); accepted: steps 0 to {length[0]}")
        bad = next((k for k, v in row.items() if k not in ("time", "step") and not is_number(v)), None)
        if not _is_step(row.get("step")) or bad is not None:
            what = (f"{bad!r} is {_short(row[bad])}" if bad is not None
                    else f"'step' is {_short(row.get('step'))}" if "step" in row else "no integer 'step'")
            raise ConfigError(f"{where}: row {i}: {what}; accepted: numbers and an integer step >= 0 that "
                              "fits in 64 bits")
    return rows


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def read_summary(path: Path) -> dict[str, Any]:
    """A run dir's summary.json, checked; {} when it has none (a run still training)."""
    from mixgan.rundir.paths import read_json

    where = path / SUMMARY
    if stat_file(where, 2**62) is None:
        return {}
    return check_summary(where, read_json(where))


def read_rows(path: Path, length: tuple[int, str] | None = None) -> list[dict[str, Any]]:
    """A run dir's metrics.jsonl rows, checked (against the run's length when it is given)."""
    from mixgan.rundir.logger import read_metrics

    return check_rows(path / METRICS, read_metrics(path), length)


# The config key of each task's length in units (the loop's `total`); a loop of the user's own records
# its planned length as train.steps (api/runlog.py, api/train.py).
_LENGTH_KEYS = {"classify": "epochs"}


def run_length(path: Path, config: dict[str, Any], summary: dict[str, Any]) -> tuple[int, str] | None:
    """The run's length in units and where it was read: the larger of summary.json's `total` (the
    length it last trained to: an extended run's) and config.yaml's train.iterations / epochs / steps;
    None when neither says (a run of the user's own without a planned length)."""
    found: list[tuple[int, str]] = []
    if _is_step(summary.get("total")):
        found.append((summary["total"], f"{SUMMARY} total"))
    train = config.get("train")
    for name in (_LENGTH_KEYS.get(str(config.get("task")), "iterations"), "steps"):
        value = train.get(name) if isinstance(train, dict) else None
        if _is_step(value):
            found.append((value, f"{CONFIG} train.{name}"))
            break
    return max(found, key=lambda f: f[0]) if found else None


def read_run_dir(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(config, metric rows, summary) of a run dir, each checked as above; a row beyond the run's
    length (a hand-edited or foreign file) is refused."""
    config, summary = read_config(path), read_summary(path)
    return config, read_rows(path, run_length(path, config, summary)), summary


def shorter_than(run_dir: Path, total: int | None) -> bool:
    """Whether a completed run stopped below `total` units (a sweep raised its length: it extends)."""
    from mixgan.rundir.paths import read_json

    if total is None or not (run_dir / SUMMARY).is_file():
        return False
    try:
        summary = read_json(run_dir / SUMMARY)
    except (OSError, ValueError):
        return False
    done = summary.get("total") if isinstance(summary, dict) else None
    return summary.get("status") == "completed" and _is_step(done) and done < total


def run_state(run_dir: Path) -> str:
    """pending | completed | diverged | interrupted | failed | partial (started, nothing to resume)."""
    from mixgan.rundir.checkpoint import CHECKPOINT
    from mixgan.rundir.paths import read_json

    if not run_dir.is_dir():
        return "pending"
    if (run_dir / FAILED).exists():  # only the latest attempt's failure is kept
        return "failed"
    if (run_dir / SUMMARY).exists():
        try:  # a summary past the limits of config/untrusted.py is a one-line error naming it
            summary = read_json(run_dir / SUMMARY)
        except (OSError, ValueError):
            summary = None
        if summary is not None and not isinstance(summary, dict):
            raise ConfigError(f"{run_dir / SUMMARY}: a JSON {type(summary).__name__}, not an object with "
                              "status and final; accepted: a run dir as mixgan.train writes it")
        status = summary.get("status") if summary else None
        if status in FINISHED:
            return status
    return "interrupted" if (run_dir / CHECKPOINT).exists() else "partial"
