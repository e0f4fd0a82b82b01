"""Typed run configs: dataclass sections, YAML loading, checked dotted overrides (`--a.b=c`).

Every task has its own schema (a dataclass tree); keys or types that the schema does not know are
rejected with a one-line `ConfigError`, before any run directory exists (docs/design.md, habit 4).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Union

import yaml

from mixgan.errors import ConfigError

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# task name -> (schema class, validator). Filled by `register_task` in the task modules' schemas.
_TASKS: dict[str, tuple[type, Callable[[Any], None]]] = {}


def register_task(name: str, schema: type, validate: Callable[[Any], None]) -> None:
    """Make `task: name` loadable with `schema` (a dataclass) checked by `validate`."""
    _TASKS[name] = (schema, validate)


def _ensure_tasks() -> None:
    # Import the schemas lazily: no work at import time, and no import cycle.
    if not _TASKS:
        import mixgan.schemas  # noqa: F401


def task_names() -> list[str]:
    """Names accepted for the top-level `task` key."""
    _ensure_tasks()
    return sorted(_TASKS)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return f"list of {_type_name(inner)}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        # YAML 1.1 (PyYAML) reads 1e-4 as a string; accept what is plainly a number.
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return build(tp, value, prefix=f"{key}.")
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def build(schema: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `schema` from a nested dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(schema)
    fields = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; accepted under "
            f"{prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    return schema(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts/lists (what `config.yaml` holds)."""
    return dataclasses.asdict(cfg)


def parse_value(text: str) -> Any:
    """A command-line value, read as YAML scalars/lists (`500` → int, `true` → bool, `[1,2]`)."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as {"a.b.c": value}: the dotted keys of overrides and comparisons."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c = value` in a nested dict, creating the sections on the way."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with `yaml.safe_load` (configs are data, never code)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections, got {type(data).__name__}")
    return data


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    task: str | None = None,
) -> Any:
    """Load a config: the task's defaults ← YAML file ← dotted overrides; then validate it."""
    _ensure_tasks()
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    for key, value in overrides:
        set_dotted(data, key, value)
    if task is not None:
        data["task"] = task
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Any:
    """Build and validate the config of `data["task"]` (default: gan) from a nested dict."""
    _ensure_tasks()
    name = data.get("task", "gan")
    if name not in _TASKS:
        raise ConfigError(f"task: unknown task {name!r}; accepted: {', '.join(task_names())}")
    schema, validate = _TASKS[name]
    cfg = build(schema, data)
    validate(cfg)
    return cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (kept in every run dir for provenance)."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def check(cond: bool, key: str, accepted: str, value: Any) -> None:
    """Raise a one-line ConfigError naming `key`, the bad value and what is accepted."""
    if not cond:
        raise ConfigError(f"{key}: got {value!r}; accepted: {accepted}")


def check_choice(value: str, key: str, choices: Iterable[str]) -> None:
    """Raise unless `value` is one of `choices`."""
    choices = sorted(choices)
    check(value in choices, key, ", ".join(choices), value)
