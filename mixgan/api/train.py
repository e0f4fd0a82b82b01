"""`mixgan.train_gan`: your G, D and data trained through mixgan's one loop (api/own_gan.py), with a
run dir that `python -m mixgan.compare` reads like any other, and `resume=` for its checkpoints."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from mixgan.errors import CheckpointError, ConfigError, first_line
from mixgan.tasks import CUSTOM_TASK

# What a resume may change: the length (only longer), the bookkeeping and the device.
RESUMABLE = ("train.steps", "run.", "device")


def _positive(value: Any, key: str, zero: bool = False) -> int:
    low = 0 if zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"train_gan({key}={value!r}); accepted: an integer >= {low}")
    return value


def _latent(value: Any) -> list[int]:
    shape = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(shape, list | tuple) or not shape or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise ConfigError(f"train_gan(latent={value!r}); accepted: an integer > 0 or a shape such as "
                          "(100, 1, 1)")
    return list(shape)


def record_loss(loss: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The objective's keys it reads, and every stabilizer, those that are off with their off settings
    (`r1: {weight: 0.0}`): config.yaml says the whole objective, so compare tells apart groups that
    differ only in a stabilizer (HParams and compare skip the off ones: report/labels.py)."""
    from mixgan.objectives.gan import GAN_OBJECTIVES

    obj = dataclasses.asdict(loss.objective)
    reads = GAN_OBJECTIVES[obj["name"]].reads
    objective = {k: v for k, v in obj.items() if k == "name" or k in reads or k == "loss"}
    return objective, dataclasses.asdict(loss.stabilizers)


def _on_only(config: dict[str, Any]) -> dict[str, Any]:
    """A nested config without the stabilizers that are off: runs written before off stabilizers were
    recorded (they left them out) resume as before."""
    from mixgan.objectives.plugins import unused_keys

    st = config.get("stabilizers")
    if not isinstance(st, dict):
        return config
    off = {k.split(".")[1] for k in unused_keys(st)}
    return {**config, "stabilizers": {k: v for k, v in st.items() if k not in off}}


def _check_same_run(saved: dict[str, Any], new: dict[str, Any], run_dir: Path) -> None:
    """A resume continues the same experiment: every key equal but those in RESUMABLE; steps only grow."""
    from mixgan.config.core import first_difference

    diff = first_difference(_on_only(saved), _on_only(new), lambda key: key.startswith(RESUMABLE))
    if diff is not None:
        key, theirs, ours = diff
        raise ConfigError(f"train_gan(resume={str(run_dir)!r}): {key} is {ours!r} but the run has "
                          f"{theirs!r}; accepted: the arguments the run was started with (only steps "
                          "may grow)")
    train = saved.get("train")
    old, steps = train.get("steps", 0) if isinstance(train, dict) else None, new["train"]["steps"]
    if not isinstance(old, int) or isinstance(old, bool):
        raise ConfigError(f"train_gan(resume={str(run_dir)!r}): the run's train.steps is {old!r}; accepted: "
                          "an integer, as train_gan wrote it (the run dir was edited)")
    if steps < old:
        raise ConfigError(f"train_gan(steps={steps}): below the run's {old}; accepted: a resume can only "
                          "extend a run")


def _lr(value: Any) -> float | list[float]:
    """One learning rate for G and D, or a pair (G's, D's); a pair of equal rates is recorded as one."""
    rates = list(value) if isinstance(value, list | tuple) else [value]
    if (isinstance(value, list | tuple) and len(rates) != 2) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in rates):
        raise ConfigError(f"train_gan(lr={value!r}); accepted: a number > 0 for G and D, or a pair "
                          "(G's, D's) of numbers > 0")
    rates = [float(v) for v in rates]
    return rates[0] if len(rates) == 1 or rates[0] == rates[1] else rates


def _ema(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ConfigError(f"train_gan(ema={value!r}); accepted: a decay in [0, 1) (0: no EMA of G; "
                          "e.g. 0.999)")
    return float(value)


def train_gan(*, G: Callable[[], nn.Module], D: Callable[[], nn.Module], data: Any, loss: Any = None,
              latent: int | tuple[int, ...] = 2, steps: int = 1000, batch_size: int = 64,
              lr: float | tuple[float, float] = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
              ema: float = 0.0, seed: int = 0,
              device: str = "auto", dir: str | Path = "runs", name: str = "",
              config: Mapping[str, Any] | None = None,
              evaluate: Callable[[nn.Module, int], Mapping[str, float]] | None = None,
              metrics_every: int = 100, image_every: int = 1000, checkpoint_every: int = 1000,
              progress: bool = True, resume: str | Path | None = None) -> dict[str, Any]:
    """Train your G and D on `data` with `loss` (a mixgan.GANLoss; ERM when None) through mixgan's loop.

    G, D: functions that build the modules (called after `torch.manual_seed(seed)`: G, then D).
    data: a toy data set's name ("grid25", "ring8": the toy quality scores are measured too), a float
    tensor of examples (N, ...) drawn with replacement, or `data(n, generator) -> (n, ...)`.
    latent: the noise's shape per sample (N(0, I)). Adam(lr, betas) for both, or lr=(G's, D's);
    `loss.d_steps` D steps per G step. ema: the decay of an EMA of G's weights (0: none), scored on toy
    data as quality_ema/*. evaluate(G, step) -> {name: number}: your metrics, at every measurement.
    config: your settings that make the experiment (compare pools runs that differ only in seed).
    resume: a run dir this function wrote; the same arguments (steps may grow) continue it exactly.
    Returns the summary (status completed, diverged or failed; final metrics; run_dir). A run stopped
    by Ctrl-C raises KeyboardInterrupt once its checkpoint and summary.json are written (a scheduler's
    SIGTERM/SIGUSR1/SIGUSR2: SystemExit(128 + signal)), so a `for seed in ...` loop stops too.

    Defaults that differ from the main job (`python -m mixgan.train`, configs/gan/default.yaml):
    lr 2e-4 (main job 1e-3), betas (0.5, 0.999) (main job (0.9, 0.999)), batch_size 64 (main job 128),
    steps 1000 (main job 5000); and GANLoss's d_steps 1 (5), ERM's g_loss non_saturating (saturating),
    Mixup's form paper (--mixup: demo). docs/library.md has the call that reproduces the main job.
    """
    from mixgan.api.losses import GANLoss
    from mixgan.api.own_gan import MetricSettings, OwnGanConfig, OwnGanTrainer, RunSettings, _builder
    from mixgan.config.core import flatten
    from mixgan.experiments.run import resolve_device

    G, D = _builder(G, "G"), _builder(D, "D")
    loss = GANLoss() if loss is None else loss
    if not isinstance(loss, GANLoss):
        raise ConfigError(f"train_gan(loss={type(loss).__name__}); accepted: mixgan.GANLoss(...)")
    loss = copy.deepcopy(loss)  # each run its own stabilizer state (LeCam's anchors), from the start
    for key, value in (("steps", steps), ("batch_size", batch_size), ("seed", seed)):
        _positive(value, key, zero=key == "seed")
    for key, value in (("metrics_every", metrics_every), ("checkpoint_every", checkpoint_every)):
        _positive(value, key, zero=True)
    if not isinstance(image_every, int) or image_every < -1:
        raise ConfigError(f"train_gan(image_every={image_every!r}); accepted: an integer >= -1")
    rate, decay = _lr(lr), _ema(ema)
    if not (isinstance(betas, list | tuple) and len(betas) == 2 and all(isinstance(b, int | float) and
                                                                      0 <= b < 1 for b in betas)):
        raise ConfigError(f"train_gan(betas={betas!r}); accepted: two numbers in [0, 1)")
    pack = loss.stabilizers.pack
    if batch_size % pack:
        raise ConfigError(f"train_gan(batch_size={batch_size}): PacGAN packs {pack} samples; accepted: "
                          f"a multiple of {pack}")
    user = dict(config or {})
    flatten(user)  # nested mappings of plain values
    dev = resolve_device(device)
    objective, stabilizers = record_loss(loss)

    cfg = OwnGanConfig(
        task=CUSTOM_TASK, seed=seed, device=device, model={}, data={}, objective=objective,
        stabilizers=stabilizers,
        train={"steps": steps, "batch_size": batch_size, "latent": _latent(latent), "lr": rate,
               "betas": [float(b) for b in betas], "d_steps": loss.d_steps,
               **({"ema": decay} if decay else {})},  # absent when off: older runs resume as before
        metrics=MetricSettings(every=metrics_every, image_every=image_every),
        run=RunSettings(dir=str(dir), name=name, progress=progress, checkpoint_every=checkpoint_every),
        user=user)
    trainer = OwnGanTrainer(cfg, G, D, data, loss, evaluate, dev)
    # what the modules and data turned out to be (classes, sizes, the data's name or shape)
    cfg.model = {"G": type(trainer.G).__name__, "D": type(trainer.D).__name__,
                 "G_params": sum(p.numel() for p in trainer.G.parameters()),
                 "D_params": sum(p.numel() for p in trainer.D.parameters())}
    cfg.data = trainer.source.record
    if resume is not None:
        return _resume(Path(resume), cfg, trainer, progress)
    return _fresh(cfg, trainer, progress)


def _fresh(cfg: Any, trainer: Any, progress: bool) -> dict[str, Any]:
    import shutil

    import yaml

    from mixgan.config.core import to_dict
    from mixgan.rundir.paths import check_writable, new_run_dir
    from mixgan.trainers.loop import print_summary, run_loop

    check_writable(cfg.run.dir, "dir")
    name = cfg.run.name or f"{cfg.objective['name']}-s{cfg.seed}"
    run_dir = new_run_dir(cfg.run.dir, name, unique=not cfg.run.name)
    try:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    except OSError:  # a full disk before the run started: no half-made run dir
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    summary = run_loop(trainer, cfg, run_dir)
    if progress:
        print_summary(summary, trainer.summary_keys)
    return _stop_if_interrupted(summary)


def _stop_if_interrupted(summary: dict[str, Any]) -> dict[str, Any]:
    """A run stopped by a signal stops the caller too, its checkpoint and summary.json written: Ctrl-C
    raises KeyboardInterrupt (a `for seed in ...` loop of train_gan calls ends there, not at the next
    seed), a scheduler's SIGTERM/SIGUSR1/SIGUSR2 SystemExit(128 + signal), as the train command exits."""
    if summary.get("status") != "interrupted":
        return summary
    from mixgan.trainers.loop import exit_code

    where = (f"train_gan: interrupted at step {summary.get('step')}; continue it with "
             f"resume={summary['run_dir']!r}")
    if summary.get("stop_signal", "SIGINT") == "SIGINT":
        raise KeyboardInterrupt(where)
    raise SystemExit(exit_code(summary))


def _resume(run_dir: Path, cfg: Any, trainer: Any, progress: bool) -> dict[str, Any]:
    from mixgan.config.core import read_yaml, to_dict
    from mixgan.rundir.checkpoint import CHECKPOINT, check_sections, load_checkpoint
    from mixgan.rundir.paths import remove_orphans, run_dir_lock
    from mixgan.trainers.loop import finish_resumed, print_summary, run_loop

    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"train_gan(resume={str(run_dir)!r}): no config.yaml there; accepted: a run dir "
                          "train_gan wrote")
    saved = read_yaml(run_dir / "config.yaml")
    if not isinstance(saved, dict) or saved.get("task") != CUSTOM_TASK or "train" not in saved:
        raise ConfigError(f"train_gan(resume={str(run_dir)!r}): not a train_gan run (task "
                          f"{saved.get('task') if isinstance(saved, dict) else None!r}); accepted: a run "
                          "dir train_gan wrote (others resume with python -m mixgan.train --resume)")
    cfg.run = dataclasses.replace(cfg.run, dir=str(run_dir.parent), name=run_dir.name)
    _check_same_run(saved, to_dict(cfg), run_dir)
    with run_dir_lock([run_dir]):
        path, wall = run_dir / CHECKPOINT, 0.0
        if path.exists():
            state = load_checkpoint(path)  # weights_only: a checkpoint stays data
            if not isinstance(state["config"], dict):
                what = type(state["config"]).__name__
                raise CheckpointError(f"checkpoint {path} has no config mapping (got {what}); accepted: "
                                      "a checkpoint train_gan wrote")
            _check_same_run(state["config"], to_dict(cfg), run_dir)
            check_sections(state["trainer"], trainer.state_dict(), path)  # one line naming a missing one
            try:
                trainer.load_state_dict(state["trainer"])
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
                raise CheckpointError(f"checkpoint {path} does not fit these G and D "
                                      f"({first_line(err)})") from None
            trainer.step, wall = int(state["step"]), float(state.get("wall_time", 0.0))
        # else: stopped before its first checkpoint, it trains again from step 0 (the logger drops rows)
        remove_orphans(run_dir)
        import yaml

        (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))  # steps grown
        if trainer.step >= trainer.total:
            summary = finish_resumed(trainer, cfg, run_dir, wall)
        else:
            summary = run_loop(trainer, cfg, run_dir, resumed=True, wall_time=wall)
    if progress:
        print_summary(summary, trainer.summary_keys)
    return _stop_if_interrupted(summary)

