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


# What a label says for a key a group does not have: a stabilizer that is off (its keys are unread, so
# left out of the group's identity), or a setting the group's runs never had.
OFF, UNSET = "off", "unset"


def label_keys(identities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group (its identity: the config keys that make its experiment), the values that tell it
    apart from the others: every key whose value differs between groups, a key only some groups have
    included (a stabilizer on in one group and off in another: `r1 off` against `r1.weight=1.0`).
    An objective's setting only some groups have is left to the objective's name (ERM reads no α)."""
    union = list(dict.fromkeys(k for f in identities for k in f))
    partial = [k for k in union if not k.startswith("objective.") and any(k not in f for f in identities)]
    differ = [k for k in union if len({repr(f[k]) for f in identities if k in f}) > 1]
    keys = [k for k in union if k in differ]
    for section in dict.fromkeys(_section(k) for k in partial):
        mine = [k for k in partial if _section(k) == section]
        if not any(k in differ for k in mine):  # on here, off there: its first setting says which
            keys.append(mine[0])
    keys = sorted(keys)
    if not keys:  # one group: name it by what it is
        keys = [k for k in ("data.name", "objective.name") if k in identities[0]] or ["task"]
    if any(k.startswith("objective.") for k in keys) and "objective.name" not in keys:
        keys.append("objective.name")  # `mixup α=0.2`, not `α=0.2`: whose setting it is
    return [{k: f[k] if k in f else OFF if k.startswith("stabilizers.") else UNSET for k in keys
             if k in f or not k.startswith("objective.")} for f in identities]


def _section(key: str) -> str:
    """A stabilizer's section (`stabilizers.r1.weight` → `stabilizers.r1`), else the key itself."""
    return ".".join(key.split(".")[:2]) if key.startswith("stabilizers.") else key


def readable_label(keys: dict[str, Any]) -> str:
    """The objective and its settings first (`mixup α=0.2`), then the other differing values, comma
    separated (`erm, ring8`; `mixup α=1.0, grid25, r1.weight=1.0`; a stabilizer that is off: `r1 off`)."""
    def part(key: str) -> str:
        if keys[key] in (OFF, UNSET) and _section(key) != key:
            return f"{_section(key).split('.')[1]} {keys[key]}"
        if keys[key] == UNSET:
            return f"{_short(key, list(keys))} {UNSET}"
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
