"""One registry per kind (tasks, data sets, models, objectives, stabilizers): names to objects, with
duplicates and unknown names refused, and plugins from other packages found through entry points.

A registry holds its built-in entries either as objects or as "module:attr" strings, imported only
when the name is looked up (no work at import time, no import cycle). Other packages add entries with
Python entry points (`[project.entry-points."mixgan.stabilizers"] theirs = "their_pkg.mod:Theirs"`),
read once, the first time a registry is asked for a name it does not hold or for all its names; a
config then names them like any built-in (`--model.name=theirs`), never by a dotted path.

This module is `mixgan._registry`, not `mixgan.registry`: a submodule of that name would replace the
public function `mixgan.registry(kind)` (mixgan/registries.py) as soon as anything imported it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

from mixgan.errors import ConfigError


def _entry_points(group: str) -> list[Any]:
    import importlib.metadata as md

    return list(md.entry_points(group=group))


class Registry:
    """name -> object of one kind; `register` refuses a name twice, lookup an unknown name (ConfigError)."""

    def __init__(self, kind: str, group: str | None = None,
                 check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind  # e.g. "stabilizer", in error messages
        self.group = group  # the entry-point group of plugins, e.g. "mixgan.stabilizers"
        self.check = check  # check(name, obj): a one-line ConfigError for an object the engine cannot use
        self._entries: dict[str, Any] = {}
        self._builtins: frozenset[str] = frozenset()
        self._plugins_read = group is None

    def register(self, name: str, obj: Any, *, replace: bool = False) -> Any:
        """Add `name` (an object, or a "module:attr" string imported on first lookup); returns obj, so
        it also serves as a decorator's body. A name given twice is an error, never a silent override,
        unless `replace=True` (a notebook cell run again), which never replaces one of mixgan's own."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"{self.kind} name {name!r} is not accepted; accepted: a Python identifier")
        if name in self._builtins and replace:
            raise ConfigError(f"{self.kind} {name!r} is mixgan's own, which replace=True does not replace; "
                              "accepted: a new name")
        if name in self._entries and not replace:
            raise ConfigError(f"{self.kind} {name!r} is registered twice; accepted: a name not yet used "
                              f"({', '.join(self._entries)}), or replace=True to replace yours")
        if self.check is not None and not isinstance(obj, str):
            self.check(name, obj)  # before it is added: a refused object leaves the registry as it was
        self._entries[name] = obj
        return obj

    def seal(self) -> None:
        """The names registered so far are mixgan's own (replace=True leaves them alone)."""
        self._builtins = frozenset(self._entries)

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True  # first, so that a plugin that looks names up does not recurse
        for ep in _entry_points(self.group):  # type: ignore[arg-type]
            if ep.name in self._entries:
                raise ConfigError(f"entry point {ep.value!r} ({self.group}) names {self.kind} "
                                  f"{ep.name!r}, which is taken; accepted: a new name")
            self._entries[ep.name] = ep  # loaded when looked up

    def _resolve(self, name: str) -> Any:
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
        elif hasattr(obj, "load") and hasattr(obj, "group"):  # an EntryPoint
            obj = obj.load()
            if self.check is not None:  # another package's object: checked as register checks one
                self.check(name, obj)
        self._entries[name] = obj
        return obj

    def names(self) -> list[str]:
        """Every name: built-ins first, then installed plugins."""
        self._read_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._read_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, name: str) -> Any:
        if name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; accepted: {', '.join(self.names())}")
        return self._resolve(name)

    def get(self, name: Any, default: Any = None) -> Any:
        return self[name] if isinstance(name, str) and name in self else default

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self[n]) for n in self.names()]

    def keys(self) -> list[str]:
        return self.names()
