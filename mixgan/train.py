"""`python -m mixgan.train [--mixup] [--config F] [--seed N] [--key.sub=value ...]`: one training run.

Bad input (unknown key, wrong type, invalid value, missing data, broken checkpoint) prints one
line and exits with code 2 before any run dir is created; a diverged run exits 0 (it is a result).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from pathlib import Path
from typing import Any

# The parser and run_one live below the commands (config/cli.py, experiments/run.py), so that stacks and
# seeds share them; re-exported here for scripts and tests (`from mixgan.train import parse_overrides`).
from mixgan.config.cli import cli_overrides, train_parser
from mixgan.config.cli import parse_overrides as parse_overrides
from mixgan.config.core import config_from_dict, load_config
from mixgan.config.resume import RESUME_KEYS as RESUME_KEYS
from mixgan.config.resume import apply_resume_overrides, check_total
from mixgan.config.resume import total_key as total_key
from mixgan.errors import CheckpointError, ConfigError, MixganError, first_line
from mixgan.experiments.run import make_trainer, resolve_device, run_one
from mixgan.rundir.checkpoint import CHECKPOINT, check_sections, load_checkpoint
from mixgan.tasks import CUSTOM_TASK
from mixgan.tasks import TASKS as TRAINERS  # the one task registry (schema, validator, trainer)

# The objective to train next for a comparison, named in the hint that ends a job.
OTHER_OBJECTIVE = {"erm": "mixup", "mixup": "erm"}


def other_objective(argv: list[str], cfg: Any) -> tuple[str, str] | None:
    """The other objective (ERM ↔ mixup) and the train command that runs it with everything else the
    same (without --run.name, so that it gets a run or group dir of its own); None for other objectives."""
    import shlex

    other = OTHER_OBJECTIVE.get(getattr(getattr(cfg, "objective", None), "name", None))
    if other is None:
        return None
    keep, skip = [], False
    for arg in argv:
        if skip:  # the value of a dropped `--key value` pair
            skip = False
        elif arg in ("--objective.name", "--run.name"):
            skip = True
        elif arg != "--mixup" and not arg.startswith(("--objective.name=", "--run.name=")):
            keep.append(arg)
    if other == "mixup":
        keep.append("--mixup")
    elif any(a == "--config" or a.startswith("--config=") for a in keep):  # a preset may choose mixup
        keep.append("--objective.name=erm")
    return other, shlex.join(["python", "-m", "mixgan.train", *keep])


def make_parser() -> argparse.ArgumentParser:
    """The train command's parser (config/cli.py), with this module's usage line as its description."""
    return train_parser(__doc__.splitlines()[0])


def _stopped_before_training(run_dir: Path) -> bool:
    """Whether a run dir without a checkpoint was stopped before its first one (interrupted, failed or
    killed: no summary), so that --resume may train it from step 0 rather than refuse it."""
    from mixgan.rundir.validate import read_summary

    summary = read_summary(run_dir)  # through the file limits: a FIFO or a device is one line
    return not summary or summary.get("status") in ("interrupted", "failed")


def resume(run_dir: Path, overrides: list[tuple[str, Any]]) -> tuple[Any, Any, dict[str, Any]]:
    """Rebuild a run from its checkpoint (weights, optimizers, step, RNG) and saved config."""
    from mixgan.config.core import read_yaml

    path = run_dir / CHECKPOINT
    if (run_dir / "config.yaml").is_file():
        own = read_yaml(run_dir / "config.yaml")  # through the file limits (config/untrusted.py)
        if isinstance(own, dict) and own.get("task") == CUSTOM_TASK:
            _refuse_custom(run_dir)
    if not path.exists() and not path.is_symlink() and (run_dir / "config.yaml").is_file() \
            and _stopped_before_training(run_dir):
        # Stopped (a second Ctrl-C, a kill) before its first checkpoint: it trains again from step 0
        # in the same dir, with the numbers of a fresh run (the logger drops the old rows).
        state = {"step": 0, "config": read_yaml(run_dir / "config.yaml"), "wall_time": 0.0, "trainer": None}
    else:
        state = load_checkpoint(path)
    data = state["config"]
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} has no config mapping (got {type(data).__name__})")
    if data.get("task") == CUSTOM_TASK:
        _refuse_custom(run_dir)
    check_own_checkpoint(run_dir, data, path)
    saved = copy.deepcopy(data)
    apply_resume_overrides(data, overrides)
    cfg = config_from_dict(data)
    check_total(cfg, saved, state["step"], path)
    trainer = make_trainer(cfg)
    if state["trainer"] is None:  # from step 0: the trainer as built
        return cfg, trainer, state
    check_sections(state["trainer"], trainer.state_dict(), path)  # a missing section: one line naming it
    try:
        trainer.load_state_dict(state["trainer"])
        trainer.step = int(state["step"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
        # A checkpoint edited by hand or from another version: one line, not a traceback.
        raise CheckpointError(f"checkpoint {path} does not fit a {cfg.task} trainer of this config "
                              f"({first_line(err)})") from None
    return cfg, trainer, state


def _refuse_custom(run_dir: Path) -> None:
    """A run of the user's own code: its models live there, not in a config (one line, how to resume)."""
    raise ConfigError(f"{run_dir} was trained by your own code (mixgan.train_gan or mixgan.run_logger): "
                      f"mixgan cannot rebuild its G and D from a file; resume it from that code, "
                      f"mixgan.train_gan(..., resume={str(run_dir)!r})")


def check_own_checkpoint(run_dir: Path, ckpt_config: dict[str, Any], path: Path) -> None:
    """The checkpoint must be the run dir's own: its config equals `config.yaml` but for the keys a
    resume may change, else resuming would overwrite this run's metrics with another run's (issue 17)."""
    from mixgan.config.core import first_difference, read_yaml, to_dict

    yaml_path = run_dir / "config.yaml"
    if not yaml_path.is_file():
        raise CheckpointError(f"{run_dir}: no config.yaml beside {path}, so the checkpoint cannot be "
                              f"checked against its run; accepted: a run dir as mixgan.train writes it")
    own = read_yaml(yaml_path)
    # Both through the schema: a key that one version wrote and the other did not (a plugin's section
    # added since), at its default, is no difference. An invalid file is compared as written.
    with contextlib.suppress(MixganError):
        own, ckpt_config = to_dict(config_from_dict(own)), to_dict(config_from_dict(ckpt_config))
    diff = first_difference(own, ckpt_config, lambda key: key in RESUME_KEYS)
    if diff is not None:
        key, ours, theirs = diff
        raise CheckpointError(f"checkpoint {path} is not this run's: it has {key}={theirs!r} but "
                              f"{yaml_path} has {ours!r}; accepted: the checkpoint the run wrote")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 done or diverged, 1 failed (e.g. a full disk: one line,
    status failed), 2 bad input, 130 interrupted)."""
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args, rest = make_parser().parse_known_args(argv)
        overrides = cli_overrides(args, rest)
        if args.seeds is not None and (args.seed is not None or args.resume):
            raise ConfigError("--seeds: cannot be combined with --seed or --resume")
        if args.seeds is None and args.jobs != 1:
            raise ConfigError("--jobs: only applies with --seeds")
        if args.resume and (args.config is not None or args.task is not None):
            flag = "--config" if args.config is not None else "--task"
            raise ConfigError(f"--resume: cannot be combined with {flag} (a resumed run keeps its saved "
                              "config and task); accepted: --resume RUN_DIR and the keys a resume may change")
        if args.resume:
            from mixgan.config.untrusted import check_path
            from mixgan.rundir.paths import check_outputs, remove_orphans, run_dir_lock

            check_path(args.resume, "--resume")
            from mixgan.trainers.distributed import world
            from mixgan.trainers.loop import finish_resumed, print_summary, run_loop

            run_dir = Path(args.resume)
            # The run dir's lock first, as a fresh run holds it: a second resume is refused, not run twice.
            owner = run_dir.is_dir() and world()[0] == 0
            if owner:
                check_outputs(run_dir, "--resume")  # before its lock (which creates .lock) and any model
            with run_dir_lock([run_dir] if owner else []):
                cfg, trainer, state = resume(run_dir, overrides)
                if getattr(trainer, "rank", 0) != 0:  # a torchrun worker writes nothing
                    return 130 if trainer.run_worker()["status"] == "interrupted" else 0
                remove_orphans(run_dir)  # half-written temp files of a killed process
                wall = float(state.get("wall_time", 0.0))
                if trainer.step >= trainer.total:  # nothing left to train: rebuild the summary only
                    summary = finish_resumed(trainer, cfg, run_dir, wall)
                else:
                    summary = run_loop(trainer, cfg, run_dir, resumed=True, wall_time=wall)
            print_summary(summary, trainer.summary_keys)
        else:
            if args.task is not None and args.task not in TRAINERS:
                raise ConfigError(f"--task: unknown task {args.task!r}; accepted: {', '.join(TRAINERS)}")
            cfg = load_config(args.config, overrides, task=args.task)
            if cfg.task not in TRAINERS:
                raise ConfigError(f"task: {cfg.task!r} has no trainer yet; accepted: {', '.join(TRAINERS)}")
            from mixgan.rundir.paths import check_writable

            check_writable(cfg.run.dir, "run.dir")  # before data are loaded or a trainer is built
            if args.seeds is not None:  # many seeds: experiments/seeds.py runs them and prints their table
                from mixgan.experiments.fits import check_fits

                check_fits(cfg, resolve_device(cfg.device))  # before the group dir exists
                from mixgan.experiments.seeds import seeds_main

                return seeds_main(cfg, args.seeds, args.jobs, other_objective(argv, cfg))
            summary = run_one(cfg)
            other = other_objective(argv, cfg)
            if other and "rank" not in summary:  # a comparison needs both objectives
                print(f"against {other[0]}:  {other[1]}\n  then:  tensorboard --logdir {cfg.run.dir}")
    except MixganError as err:
        print(f"mixgan.train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixgan.train: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a full disk or a lost mount outside the loop (which records its own)
        print(f"mixgan.train: error: {first_line(err)}", file=sys.stderr)
        return 1
    from mixgan.trainers.loop import exit_code

    return exit_code(summary)


if __name__ == "__main__":
    try:
        code = main()
        from mixgan.trainers.distributed import exit_process

        exit_process(code)
    except KeyboardInterrupt:  # a Ctrl-C before the run's own handler or after its end: no traceback
        print("mixgan.train: interrupted", file=sys.stderr)
        sys.exit(130)
