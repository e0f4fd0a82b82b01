"""Typed run configs: dataclass sections, YAML loading, checked dotted overrides (`--a.b=c`).

Every task has its own schema (a dataclass tree); keys or types that the schema does not know are
rejected with a one-line `ConfigError`, before any run directory exists (docs/design.md, habit 4).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Union

import yaml

from mixgan.config.untrusted import LimitedLoader, UntrustedFileError, parse_yaml, read_yaml_file, stat_file
from mixgan.errors import ConfigError

_INT64 = 2**63  # ints must fit in 64 bits: seeds go to torch.manual_seed, sizes to tensors
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
MAX_SEEDS = 10_000  # seeds per job (`--seeds`, a sweep's `seeds:`); more: refused before anything is written


def task_names() -> list[str]:
    """Names accepted for the top-level `task` key (the one task registry, mixgan/tasks.py)."""
    from mixgan.tasks import TASKS

    return sorted(TASKS)


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
        # YAML 1.1 (PyYAML) reads 1e-4 as a string; accept what is plainly a number.
        number = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and _FLOAT.match(value.strip()))
        if number:
            try:
                out = float(value)
            except OverflowError:  # an int past 1e308
                out = math.inf
            if not math.isfinite(out):  # .inf and .nan are never a usable setting
                raise ConfigError(f"{key}: expected a finite number, got {value!r}")
            return out
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if not -_INT64 <= value < _INT64:
                raise ConfigError(f"{key}: got {value}; accepted: an integer that fits in 64 bits (< 2**63)")
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return build(tp, value, prefix=f"{key}.")
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


@functools.lru_cache(maxsize=256)
def _hints(schema: type) -> dict[str, Any]:
    """A schema's field types, resolved once per class (8 ms a config otherwise: compare reads 10,000)."""
    return typing.get_type_hints(schema)


def build(schema: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `schema` from a nested dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    resolved = getattr(schema, "resolved_schema", None)  # a section that registered plugins extend
    if resolved is not None:
        schema = resolved()
    hints = _hints(schema)
    fields = {f.name for f in dataclasses.fields(schema)}
    odd = [k for k in data if not isinstance(k, str)]
    if odd:  # e.g. `1: x` in a YAML file: a number, not a key name
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"config key {prefix}{odd[0]!r} is not a name ({type(odd[0]).__name__}); "
                          f"accepted under {where}: {', '.join(sorted(fields))}")
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


def parse_value(text: str, key: str = "value") -> Any:
    """A command-line value, read as YAML scalars/lists (`500` → int, `true` → bool, `[1,2]`); text
    that is not YAML stays text, a value past the YAML limits (an integer of 5,000 digits) is refused."""
    if text == "":
        return ""
    try:
        return parse_yaml(text, f"--{key}")
    except UntrustedFileError as err:
        if "not valid YAML" in str(err):
            return text
        raise


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as {"a.b.c": value}: the dotted keys of overrides and comparisons."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def first_difference(a: dict[str, Any], b: dict[str, Any],
                     skip: Callable[[str], bool]) -> tuple[str, Any, Any] | None:
    """The first dotted key (task first, then sorted) where two nested configs differ, with a's and b's
    values ("<missing>" where absent); keys `skip` accepts are left out. Tuples and lists compare alike,
    as YAML holds them. None when they agree: a resume checks that it continues the same run."""
    import json

    def plain(data: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(flatten(data), default=str))

    pa, pb = plain(a), plain(b)
    for key in sorted(set(pa) | set(pb), key=lambda k: (k != "task", k)):
        if not skip(key) and pa.get(key, "<missing>") != pb.get(key, "<missing>"):
            return key, pa.get(key, "<missing>"), pb.get(key, "<missing>")
    return None


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


class UniqueKeyLoader(LimitedLoader):
    """A SafeLoader with the limits of config/untrusted.py that refuses a key given twice in one
    mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader's own error names it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml_file(path: Path, loader: type = UniqueKeyLoader) -> Any:
    """A YAML file's data (safe loader: data, never code) within the limits of config/untrusted.py;
    a one-line ConfigError naming the file (and the line) on bad YAML, a duplicate key, a file that is
    not UTF-8 text, not a regular file, or past a limit."""
    return read_yaml_file(path, loader=loader)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping (configs are data, never code); {} for an empty file."""
    path = Path(path)
    if stat_file(path, 2**62) is None:
        raise ConfigError(f"config file not found: {path}")
    data = parse_yaml_file(path)
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
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    if path is not None and not data:  # accepted, but say so: an empty preset is easy to mistake
        print(f"mixgan: note: {path} sets nothing: all defaults are used", file=sys.stderr)
    for key, value in overrides:
        set_dotted(data, key, value)
    if task is not None:
        data["task"] = task
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Any:
    """Build and validate the config of `data["task"]` (default: gan) from a nested dict."""
    from mixgan.tasks import TASKS, schema_of

    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping of config sections, got {type(data).__name__}")
    name = data.get("task", "gan")
    if not isinstance(name, str) or name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}; accepted: {', '.join(task_names())}")
    schema, validate = schema_of(name)
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
