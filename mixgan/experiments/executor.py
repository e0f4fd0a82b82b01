"""Run sweep runs as `python -m mixgan.train` processes: a local pool, or Slurm jobs via submitit.

Each run is one child process (a crash cannot take the sweep down), holds a per-run flock for as
long as it lives (two runners never train the same run at once), and is resumed from its
checkpoint when a previous attempt was interrupted.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixgan.errors import ConfigError
from mixgan.rundir.paths import FAILED, write_json_atomic
from mixgan.rundir.validate import FINISHED, run_state, shorter_than
from mixgan.trainers.console import usable_cores

LOCKS, LOGS = ".locks", ".logs"


@dataclass
class Job:
    """What one worker needs to train one run (plain data: it is pickled for Slurm)."""

    name: str
    sweep_dir: str
    fresh_args: list[str]  # `python -m mixgan.train` arguments of a fresh start
    retry_failed: bool = False
    wait_for_lock: bool = False  # wait for another runner's process instead of skipping the run
    env: dict[str, str] = field(default_factory=dict)
    extend: tuple[str, int] | None = None  # (train.iterations, N): the sweep's length, which a resume takes

    @property
    def run_dir(self) -> Path:
        return Path(self.sweep_dir) / self.name


def _lock(job: Job, stop: threading.Event | None) -> int | None:
    """An exclusive flock on <sweep>/.locks/<run>.lock, or None when another process holds it."""
    path = Path(job.sweep_dir) / LOCKS / f"{job.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if not job.wait_for_lock or (stop is not None and stop.is_set()):
                os.close(fd)
                return None
            time.sleep(0.5)


def _tail(path: Path, n: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


STOPPED_CODES = (130, 143, 138, 140)  # 128 + SIGINT, SIGTERM, SIGUSR1, SIGUSR2: a run that checkpointed


class Children:
    """The live child processes of this runner, so that Ctrl-C can be forwarded to them."""

    def __init__(self) -> None:
        self.procs: set[subprocess.Popen] = set()
        self.stop = threading.Event()
        self._mutex = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        with self._mutex:
            self.procs.add(proc)
            stopping = self.stop.is_set()
        if stopping:  # started while the stop was being forwarded
            proc.send_signal(signal.SIGINT)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._mutex:
            self.procs.discard(proc)

    def interrupt(self) -> int:
        """Ask every child to checkpoint and stop (a second call makes them stop at once)."""
        with self._mutex:
            self.stop.set()
            procs = [p for p in self.procs if p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        return len(procs)


def _finished(job: Job, state: str) -> bool:
    """Completed or diverged, and not a completed run below the sweep's raised length."""
    return state in FINISHED and not (job.extend and shorter_than(job.run_dir, job.extend[1]))


def _extend_args(jobs: list[Job]) -> list[str]:
    """The sweep's length for a resume (a no-op at the run's own length; a raised one extends it)."""
    return [f"--{jobs[0].extend[0]}={jobs[0].extend[1]}"] if jobs[0].extend else []


def execute(job: Job, children: Children | None = None) -> dict[str, Any]:
    """Train one run unless it is finished, failed (without retry) or held by another process."""
    children = children or Children()
    result: dict[str, Any] = {"name": job.name, "action": "none", "seconds": 0.0}
    if children.stop.is_set():
        return {**result, "status": "stopped"}
    fd = _lock(job, children.stop)
    if fd is None:
        return {**result, "status": "busy"}
    try:
        state = run_state(job.run_dir)
        if _finished(job, state) or (state == "failed" and not job.retry_failed):
            return {**result, "status": state}
        return {**result, **_start(job, fd, children)}
    finally:
        os.close(fd)


def _start(job: Job, fd: int, children: Children) -> dict[str, Any]:
    """Resume the run from its checkpoint, or start it afresh (a run dir without one is removed)."""
    from mixgan.rundir.checkpoint import CHECKPOINT

    if (job.run_dir / CHECKPOINT).exists():  # interrupted, or failed after a checkpoint: continue it
        (job.run_dir / FAILED).unlink(missing_ok=True)
        args = ["--resume", str(job.run_dir), "--run.progress=false", *_extend_args([job])]
        return {"action": "resume", **_train([job], ["-m", "mixgan.train", *args], [fd], children)[0]}
    shutil.rmtree(job.run_dir, ignore_errors=True)
    return {"action": "fresh", **_train([job], ["-m", "mixgan.train", *job.fresh_args], [fd], children)[0]}


def execute_stack(jobs: list[Job], children: Children | None = None) -> list[dict[str, Any]]:
    """Train the fresh runs of one stack (configs that differ only in member settings) in one process
    (`python -m mixgan.experiments.stacks`, holding every member's lock); finished, failed, busy and
    interrupted
    members are handled as `execute` does, an interrupted one resuming alone."""
    children = children or Children()
    if len(jobs) == 1:
        return [execute(jobs[0], children)]
    results: list[dict[str, Any]] = []
    fresh: list[tuple[Job, int]] = []
    resumed: list[tuple[Job, int]] = []
    try:
        for job in jobs:
            result: dict[str, Any] = {"name": job.name, "action": "none", "seconds": 0.0}
            fd = None if children.stop.is_set() else _lock(job, None)
            if fd is None:
                results.append({**result, "status": "stopped" if children.stop.is_set() else "busy"})
                continue
            state = run_state(job.run_dir)
            from mixgan.rundir.checkpoint import CHECKPOINT

            if _finished(job, state) or (state == "failed" and not job.retry_failed):
                results.append({**result, "status": state})
            elif (job.run_dir / CHECKPOINT).exists():
                resumed.append((job, fd))
                continue
            else:
                shutil.rmtree(job.run_dir, ignore_errors=True)
                fresh.append((job, fd))
                continue
            os.close(fd)
        results += _resume_together(resumed, children)
        if len(fresh) == 1:
            results.append({"name": fresh[0][0].name, **_start(*fresh[0], children)})
        elif fresh:
            members = [job for job, _ in fresh]
            spec = Path(members[0].sweep_dir) / LOGS / f"stack-{members[0].name}.json"
            spec.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(spec, {"members": [job.fresh_args for job in members]})
            args = ["-m", "mixgan.experiments.stacks", str(spec)]
            outcome = _train(members, args, [fd for _, fd in fresh], children)
            results += [{"name": job.name, "action": "fresh", **res} for job, res in zip(members, outcome)]
    finally:
        for _, fd in fresh + resumed:
            os.close(fd)
    return results


def _resume_together(resumed: list[tuple[Job, int]], children: Children) -> list[dict[str, Any]]:
    """Interrupted members of one stack that stand at one step resume as one stack again
    (`python -m mixgan.experiments.stacks --resume`); a member at another step resumes alone."""
    from mixgan.errors import MixganError
    from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint

    at: dict[int, list[tuple[Job, int]]] = {}
    for job, fd in resumed:
        try:
            step = int(load_checkpoint(job.run_dir / CHECKPOINT)["step"])
        except (MixganError, KeyError, TypeError, ValueError):
            step = -1 - len(at)  # unreadable: alone, where mixgan.train says what is wrong in its log
        at.setdefault(step, []).append((job, fd))
    results: list[dict[str, Any]] = []
    for group in at.values():
        if len(group) == 1:
            job, fd = group[0]
            results.append({"name": job.name, "action": "none", "seconds": 0.0, **_start(job, fd, children)})
            continue
        members = [job for job, _ in group]
        for job in members:
            (job.run_dir / FAILED).unlink(missing_ok=True)
        args = ["-m", "mixgan.experiments.stacks", "--resume", *(str(j.run_dir) for j in members),
                "--run.progress=false", *_extend_args(members)]
        outcome = _train(members, args, [fd for _, fd in group], children)
        results += [{"name": job.name, "action": "resume", **res} for job, res in zip(members, outcome)]
    return results


def _train(jobs: list[Job], args: list[str], lock_fds: list[int],
           children: Children) -> list[dict[str, Any]]:
    """Run `python <args>` for these runs (one, or the members of a stack); each run's outcome."""
    first = jobs[0]
    name = first.name if len(jobs) == 1 else f"stack-{first.name}"
    log = Path(first.sweep_dir) / LOGS / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, *args]
    start = time.time()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        # Own session: a terminal Ctrl-C reaches the runner only, which forwards exactly one SIGINT.
        # The lock fds are inherited, so the runs stay locked while the child lives, even if the
        # runner itself is killed.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                pass_fds=tuple(lock_fds), env={**os.environ, **first.env})
        children.add(proc)
        try:
            while True:
                try:
                    code = proc.wait()
                    break
                except KeyboardInterrupt:  # a Slurm/submitit job being cancelled: same as Ctrl-C
                    children.interrupt()
        finally:
            children.discard(proc)
    seconds = round(time.time() - start, 2)
    return [_outcome(job, code, seconds, cmd, log, children) for job in jobs]


def _outcome(job: Job, code: int, seconds: float, cmd: list[str], log: Path,
             children: Children) -> dict[str, Any]:
    state = run_state(job.run_dir)
    if state in FINISHED:  # a member of a stack may have finished although another one failed
        return {"status": state, "seconds": seconds}
    # 130: Ctrl-C; 143, 138, 140: a scheduler's SIGTERM, SIGUSR1, SIGUSR2 (trainers/loop.exit_code).
    if code in STOPPED_CODES or children.stop.is_set():  # asked to stop: not a failure of the run
        return {"status": "interrupted", "seconds": seconds}
    lines = _tail(log)
    job.run_dir.mkdir(parents=True, exist_ok=True)
    error = next((ln for ln in reversed(lines) if ln.strip()), f"exit code {code}")
    write_json_atomic(job.run_dir / FAILED, {"returncode": code, "command": cmd, "log": str(log),
                                             "last_lines": lines, "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    return {"status": "failed", "seconds": seconds, "returncode": code, "error": error}


def default_jobs() -> tuple[int, int]:
    """(jobs, GPUs): one run per GPU when there are GPUs, else one per CPU core."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cpus = usable_cores()
    return (gpus or cpus), gpus


def run_local(groups: list[list[Job]], n_workers: int, gpus: int, on_done: Callable[[dict[str, Any]], None],
              children: Children) -> None:
    """A thread per worker, each driving one child process at a time (one run, or one stack of runs);
    runs busy in another runner are waited for last."""
    cpus = usable_cores()
    threads = str(max(1, cpus // n_workers))  # oversubscribed OpenMP threads are many times slower
    slots: list[int] = list(range(n_workers))
    mutex = threading.Lock()

    def work(group: list[Job]) -> list[dict[str, Any]]:
        with mutex:
            slot = slots.pop()
        try:
            env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads), **group[0].env}
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
            return execute_stack([Job(**{**job.__dict__, "env": env}) for job in group], children)
        finally:
            with mutex:
                slots.append(slot)

    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        pending: dict[Future, list[Job]] = {pool.submit(work, group): group for group in groups}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                by_name = {job.name: job for job in pending.pop(fut)}
                for result in fut.result():
                    job = by_name[result["name"]]
                    if result["status"] == "busy" and not job.wait_for_lock and not children.stop.is_set():
                        # Another runner trains it now: wait for it after everything else.
                        again = [Job(**{**job.__dict__, "wait_for_lock": True})]
                        pending[pool.submit(work, again)] = again
                        continue
                    on_done(result)


def make_submitit(folder: Path, cluster: str, params: dict[str, Any]) -> Any:
    """A submitit executor (`cluster="local"`: its LocalExecutor); a bad setting is a ConfigError."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor: submitit is not installed; install the extra with "
                          "pip install -e \".[slurm]\" (or pip install submitit)") from None
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        executor.update_parameters(**params)
    except (RuntimeError, ValueError, TypeError) as err:
        line = (str(err).strip().splitlines() or ["cannot create the executor"])[0]
        name = "slurm" if cluster == "slurm" else "submitit-local"
        raise ConfigError(f"--executor {name}: {line}") from None
    return executor


def run_submitit(groups: list[list[Job]], executor: Any, on_done: Callable[[dict[str, Any]], None],
                 children: Children) -> None:
    """Submit every run (or stack of runs) as a job (a Slurm array, or local processes); collect results.
    Each job is a submitit Checkpointable (experiments/slurm.py): preempted, it checkpoints and requeues."""
    from mixgan.experiments.slurm import SlurmRun

    with executor.batch():
        submitted = [(group, executor.submit(SlurmRun(group))) for group in groups]
    waiting, cancelled = list(submitted), False
    while waiting:
        if children.stop.is_set() and not cancelled:
            cancelled = True
            for _, sjob in waiting:
                sjob.cancel(check=False)  # the job forwards it to its child, which checkpoints
        for item in list(waiting):
            group, sjob = item
            if not sjob.done():
                continue
            waiting.remove(item)
            try:
                results = sjob.result()
            except Exception as err:  # the job itself died (node failure, cancelled, ...)
                line = str(err).strip().splitlines()[-1:] or ["job failed"]
                status = "interrupted" if children.stop.is_set() else "failed"
                results = [{"name": job.name, "status": status, "action": "none", "seconds": 0.0,
                            "error": f"submitit job {sjob.job_id}: {line[0][:200]}"} for job in group]
            for result in results:
                on_done(result)
        time.sleep(0.5)
