"""Group labels for `mixgan.compare`: readable names from what differs between groups (`erm`,
`mixup α=0.2`), and every name a user may give `--baseline` for a group: its label, the older
`key=value, ...` form, its folder's name or path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Keys whose value names itself (`erm`, `ring8`), and keys with a symbol of their own.
VALUE_ONLY = ("objective.name", "data.name", "model.name", "task", "row")
SYMBOLS = {"objective.alpha": "α", "objective.lam": "λ"}


def long_label(keys: dict[str, Any]) -> str:
    """The older label: `data.name=ring8, objective.name=erm` (still accepted by --baseline)."""
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def _short(key: str, keys: Sequence[str]) -> str:
    """A key without its section (`stabilizers.r1.weight` → `r1.weight`), unless that is ambiguous."""
    if key in SYMBOLS:
        return SYMBOLS[key]
    short = key.split(".", 1)[-1]
    clash = [k for k in keys if k != key and k not in SYMBOLS and k.split(".", 1)[-1] == short]
    return key if clash else short


def readable_label(keys: dict[str, Any]) -> str:
    """The objective and its settings first (`mixup α=0.2`), then the other differing values, comma
    separated (`erm, ring8`; `mixup α=1.0, grid25, r1.weight=1.0`)."""
    def part(key: str) -> str:
        return str(keys[key]) if key in VALUE_ONLY else f"{_short(key, list(keys))}={keys[key]}"

    objective = [k for k in keys if k.startswith("objective.")]
    objective.sort(key=lambda k: k != "objective.name")  # the name first, then its settings
    head = " ".join(part(k) for k in objective)
    rest = [part(k) for k in keys if k not in objective]
    return ", ".join([head, *rest] if head else rest) or "all runs"


def folders(groups: Sequence[Any], sources: dict[Path, Path]) -> list[list[Path]]:
    """Per group, the folders that hold its runs and no other group's: the paths given on the command
    line that its runs were found under, and its runs' common parent (`runs/grid25-erm`)."""
    where = [[r.path.resolve() for r in g.runs] for g in groups]
    out = []
    for i, paths in enumerate(where):
        parents = {p.parent for p in paths}
        cands = [sources.get(p, p).resolve() for p in paths] + (list(parents) if len(parents) == 1 else [])
        others = [p for j, ps in enumerate(where) if j != i for p in ps]
        out.append([f for f in dict.fromkeys(cands) if not any(f == p or f in p.parents for p in others)])
    return out


@dataclass
class Names:
    """What `--baseline` accepts for one group."""

    label: str
    long: str  # the older `key=value, ...` label
    names: list[str]  # the label, the older `key=value` label, its folders' names and paths
    folder: str | None  # the name of its first folder, shown in errors


def group_names(groups: Sequence[Any], sources: dict[Path, Path]) -> list[Names]:
    """Per group, the names `--baseline` accepts: its label, the older `key=value` label, and the name
    and path of each of its folders (as given on the command line, and resolved)."""
    given = {p.resolve(): p for p in sources.values()}
    out = []
    for g, mine in zip(groups, folders(groups, sources)):
        names = [g.label, long_label(g.keys)]
        for folder in mine:
            names += [folder.name, str(folder), str(given.get(folder, folder))]
        unique = list(dict.fromkeys(n for n in names if n))
        out.append(Names(g.label, names[1], unique, mine[0].name if mine else None))
    return out
