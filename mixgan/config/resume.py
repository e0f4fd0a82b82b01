"""What a resume may change in a run's saved config (train's --resume and a stack's --resume)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixgan.errors import ConfigError

# keys that may change when a run is resumed (e.g. to extend it); anything else would fork it
RESUME_KEYS = {"train.iterations", "train.epochs", "run.progress", "run.checkpoint_every", "device"}


def total_key(task: str) -> str:
    """The config key of a task's length in units (the loop's `total`)."""
    return "train.epochs" if task == "classify" else "train.iterations"


def apply_resume_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> None:
    """Set the command line's keys in a saved config mapping; a key a resume cannot change: one line."""
    from mixgan.config.core import set_dotted

    for key, value in overrides:
        if key not in RESUME_KEYS:
            keys = ", ".join(sorted(RESUME_KEYS))
            raise ConfigError(f"{key} cannot change when resuming; accepted: {keys}")
        set_dotted(data, key, value)


def check_total(cfg: Any, saved: dict[str, Any], step: int, path: Path) -> None:
    """A resume may extend a run, never shorten it: a total below the run's own is bad input
    (it would end a run below its checkpoint's step, or rebuild a summary from a non-final step)."""
    from mixgan.config.core import flatten, to_dict

    key = total_key(cfg.task)
    old, new = flatten(saved).get(key), flatten(to_dict(cfg)).get(key)
    if isinstance(old, int) and isinstance(new, int) and new < old:
        raise ConfigError(f"{key}: got {new}, below the run's {old} (its checkpoint {path} is at step "
                          f"{step}); accepted: >= {old} (a resume can only extend a run)")
