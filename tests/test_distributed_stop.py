"""distributed.sync_stop: one rank's Ctrl-C stops every rank at the same step, agreed every K steps."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mixgan.trainers import distributed
from mixgan.trainers.stop import StopFlag

EVERY, ASK_AT, STEPS = 5, 7, 20


def _worker(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    seen = []
    with StopFlag() as stop:
        for step in range(1, STEPS + 1):
            if rank == 1 and step == ASK_AT:
                stop.requested = True  # what the SIGINT handler does on this rank only
            distributed.sync_stop(2, torch.device("cpu"), step, EVERY)
            seen.append(stop.requested)
            if stop.requested:
                break
    out[rank] = (step, seen)
    dist.destroy_process_group()


def test_one_ranks_request_stops_both_ranks_at_the_next_agreement():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
    # Rank 1 asked at step 7; neither rank stops alone before step 10, both stop at step 10.
    assert out[0] == out[1] == (10, [False] * 9 + [True])
