"""A sweep's job under submitit (Slurm, or its local executor): submitit's checkpoint-and-requeue protocol.

When the scheduler preempts the job or its time runs out, submitit sends the job USR2 and calls
`checkpoint()` in the job's main thread: the run's child process is asked to stop (a first Ctrl-C:
it ends its iteration, writes a checkpoint and exits 130), and the job is requeued with a fresh
`SlurmRun` of the same runs, which resumes each from its checkpoint (experiments/executor.execute):
the run goes on by itself to the numbers of an uninterrupted run. Imported only where submitit is.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import submitit

from mixgan.experiments.executor import Children, Job, execute_stack

CHILD_GRACE_S = 600.0  # at most this long for a child to write its checkpoint (Slurm's grace is shorter)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it: the job's main thread may be inside its
    Popen.wait (holding the Popen's lock) when the signal handler asks, and must reap it there."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        return True
    return info is not None


def wait_for_children(children: Children, timeout: float = CHILD_GRACE_S) -> bool:
    """Ask every child to checkpoint and stop, and wait until each has exited; False on timeout."""
    children.interrupt()
    deadline = time.monotonic() + timeout
    pids = [p.pid for p in list(children.procs)]
    while time.monotonic() < deadline:
        if all(_exited(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


class SlurmRun(submitit.helpers.Checkpointable):
    """A submitit job: train one run or one stack; on preemption or timeout, checkpoint and requeue."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.children = Children()

    def __call__(self) -> list[dict[str, Any]]:
        return execute_stack(self.jobs, self.children)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Called by submitit in the job's main thread on USR2: the runs' checkpoints are written before
        the job is requeued; the requeued job is these runs again, and resumes them."""
        if not wait_for_children(self.children):  # a child that does not stop: its last checkpoint counts
            for proc in list(self.children.procs):
                proc.send_signal(signal.SIGKILL)
        return submitit.helpers.DelayedSubmission(SlurmRun(self.jobs))

    def __getstate__(self) -> dict[str, Any]:
        return {"jobs": self.jobs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["jobs"])  # type: ignore[misc]
