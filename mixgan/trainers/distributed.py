"""Multi-process training helpers (torchrun + DistributedDataParallel): process group setup,
batch sharding from one seeded permutation, sums across ranks, and a shared Ctrl-C stop.
"""

from __future__ import annotations

import atexit
import os
import signal

import torch
from torch import Tensor


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when not under it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0"))


def init(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group (nccl on CUDA, gloo on the CPU) when launched by torchrun.

    Returns (rank, world size, this rank's device: cuda:LOCAL_RANK on CUDA).
    """
    import torch.distributed as dist

    rank, size, local = world()
    if size == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=size)
        atexit.register(_leave)
    return rank, size, device


def _leave() -> None:
    # Wait for every rank (rank 0 may still be drawing pictures or writing the checkpoint) before
    # closing the connections, so that no rank sees its peers vanish mid-run.
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def exit_process(code: int) -> None:
    """End the CLI process. Under torchrun: leave the group, flush, and `os._exit`, because C++ static
    destructors at a normal exit can meet gloo's threads still joinable and abort the process
    ("terminate called without an active exception", seen now and then on 2 CPU cores)."""
    import sys

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        sys.exit(code)
    _leave()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def shard(idx: Tensor, rank: int, size: int) -> Tensor:
    """This rank's contiguous part of a global batch of indices (sizes differ by at most one)."""
    return idx.tensor_split(size)[rank] if size > 1 else idx


def epoch_batches(perm: Tensor, batch_size: int, min_last: int = 1) -> list[Tensor]:
    """Global batches of a permutation; a last batch smaller than `min_last` (the world size: every
    rank needs at least one example) is dropped."""
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and batches[-1].numel() < min_last:
        batches.pop()
    return batches


def all_sum(t: Tensor, size: int) -> Tensor:
    """Σ over ranks of t (in place on a copy); t itself when running alone."""
    if size == 1:
        return t
    import torch.distributed as dist

    out = t.clone()
    dist.all_reduce(out)
    return out


def sync_stop(size: int, device: torch.device, step: int = 0, every: int = 1) -> None:
    """If any rank got Ctrl-C, make every rank stop after the same unit.

    The training loop (trainers/loop.py) marks its SIGINT handler's `requested` flag; a rank that
    stopped alone would leave the others waiting in the next all-reduce forever, so the flags are
    OR-ed across ranks and written back into each rank's handler. The OR is an all-reduce and a
    host sync, so it runs only when `step % every == 0` (the same steps on every rank); in between,
    a local request is held back (`deferred`) so that no rank stops alone.
    """
    if size == 1:
        return
    handler = signal.getsignal(signal.SIGINT)
    owner = getattr(handler, "__self__", None)
    if owner is None or not hasattr(owner, "requested"):
        owner = None
    if step % every != 0:
        if owner is not None and owner.requested:
            owner.requested, owner.deferred = False, True
        return
    local = owner is not None and (owner.requested or getattr(owner, "deferred", False))
    flag = torch.tensor([float(local)], device=device)
    import torch.distributed as dist

    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if flag.item() > 0 and owner is not None:
        owner.requested, owner.deferred = True, False
