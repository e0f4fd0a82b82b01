"""The arguments of `python -m mixgan.train` → dotted config overrides and a config.

Here, below the commands, because a stack of runs (experiments/stacks.py) reads each member's
`mixgan.train` arguments exactly as the train command does; the command itself is mixgan/train.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from mixgan.config.core import load_config, parse_value
from mixgan.errors import ConfigError
from mixgan.tasks import TASKS as TRAINERS  # the one task registry (schema, validator, trainer)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise ConfigError(message)


class _Once(argparse.Action):
    """A flag that may be given once: `--seed 1 --seed 2` is refused, never silently last-wins."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(ns, f"_{self.dest}_given", False):
            raise ConfigError(f"{option_string}: given twice ({getattr(ns, self.dest)!r}, then {values!r}); "
                              "accepted: once")
        setattr(ns, f"_{self.dest}_given", True)
        setattr(ns, self.dest, values)


def ascii_int(text: str) -> int:
    """An integer written in ASCII digits (int() also reads other scripts' digits, e.g. '٣')."""
    t = text.strip()
    if not (t.isascii() and t.lstrip("+-").isdigit()):
        raise ConfigError(f"--seed: got {text!r}; accepted: an integer written with the digits 0-9")
    return int(t)


def train_parser(description: str = "") -> argparse.ArgumentParser:
    """The parser of `python -m mixgan.train` (its flags; config keys are left for `cli_overrides`)."""
    p = _Parser(prog="python -m mixgan.train", description=description,
                epilog="Any config key can be set as --section.key=value (e.g. "
                       "--train.iterations=500 --objective.alpha=0.5). A config key given twice takes "
                       "its last value (so a wrapper can append overrides); the flags above are accepted "
                       "once.")
    p.add_argument("--config", action=_Once, help="YAML preset (e.g. configs/gan/ring8_fig5.yaml)")
    p.add_argument("--task", action=_Once, help=f"task when no --config sets it: {', '.join(TRAINERS)}")
    p.add_argument("--mixup", action="store_true", help="use the mixup objective (objective.name=mixup)")
    p.add_argument("--seed", type=ascii_int, action=_Once, help="random seed (config key seed)")
    p.add_argument("--device", action=_Once, help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--resume", action=_Once, metavar="RUN_DIR",
                   help="continue an interrupted run from its checkpoint")
    p.add_argument("--seeds", action=_Once, help="one run per seed under one group dir: 0-9, 0,3,7 or 0-3,8")
    p.add_argument("--jobs", type=int, action=_Once, default=1, help="with --seeds: seeds run at once")
    return p


def parse_overrides(rest: list[str]) -> list[tuple[str, Any]]:
    """`--a.b=c` and `--a.b c` pairs; anything else is an error naming the argument."""
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(f"unexpected argument {arg!r}; config keys are given as --section.key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(rest) or rest[i + 1].startswith("--"):
                raise ConfigError(f"--{key}: missing value (write --{key}=VALUE)")
            value, i = rest[i + 1], i + 1
        out.append((key, parse_value(value, key)))
        i += 1
    return out


def cli_overrides(args: argparse.Namespace, rest: list[str]) -> list[tuple[str, Any]]:
    """The dotted overrides of the command line; a flag that contradicts another is refused, never
    silently last-wins (docs/bad_input.md)."""
    overrides = parse_overrides(rest)
    if args.mixup:
        named = [v for k, v in overrides if k == "objective.name" and v != "mixup"]
        if named:
            raise ConfigError(f"--mixup: conflicts with --objective.name={named[0]}; accepted: one of them")
        overrides.append(("objective.name", "mixup"))
    if args.seed is not None:
        overrides.append(("seed", args.seed))
    if args.device is not None:
        overrides.append(("device", args.device))
    return overrides


def config_from_args(argv: list[str]) -> Any:
    """The config that `python -m mixgan.train ARGV` trains (its preset, task and overrides)."""
    args, rest = train_parser().parse_known_args(argv)
    return load_config(args.config, cli_overrides(args, rest), task=args.task)
