"""Whole-iteration CUDA graphs: capture one toy-GAN iteration (5 D + 1 G steps) once, replay it after.

On CUDA a toy-GAN iteration is a few hundred tiny kernels; launched one by one from Python they leave
the GPU idle most of the time. `fast_iteration` wraps an iteration function (device work only: no host
sync, no allocation that outlives it except in place) so that on CUDA it is captured in a CUDA graph
after a few eager warm-up iterations and replayed from then on. Elsewhere (CPU), with
MIXGAN_CUDA_GRAPHS=0, or when capture fails, the function itself runs: the eager path, same maths.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch

from mixgan.errors import first_line

ENV = "MIXGAN_CUDA_GRAPHS"  # set to 0 to keep the eager path on CUDA (e.g. to compare the two)


def graphs_wanted(device: torch.device) -> bool:
    """CUDA graphs are used on CUDA devices unless MIXGAN_CUDA_GRAPHS=0."""
    return device.type == "cuda" and os.environ.get(ENV, "1") != "0"


class GraphedIteration:
    """Runs `fn` eagerly `warmup` times (on a side stream, as capture requires), then captures it.

    Every call is one real iteration: the warm-up calls train, the capture call records and then
    replays once (capture itself executes nothing), later calls replay. The RNG of `generators`
    advances on every replay exactly as eager calls would advance it (graph-safe generator state),
    so the stream of random numbers is the eager one. If capture fails, a warning names the reason
    and `fn` runs eagerly from then on (`self.failed` holds the reason).
    """

    def __init__(self, fn: Callable[[], None], generators: list[torch.Generator], warmup: int = 2) -> None:
        self.fn, self.generators, self.warmup = fn, list(generators), warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0
        self.failed: str | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self) -> None:
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
        elif self.failed is not None:
            self.fn()
        elif self.calls <= self.warmup:
            # Warm-up off the default stream (lazy cuBLAS/autograd init must not happen inside capture).
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.fn()
            torch.cuda.current_stream().wait_stream(side)
        else:
            self._capture_and_replay()

    def _capture_and_replay(self) -> None:
        states = [g.get_state() for g in self.generators]
        graph = torch.cuda.CUDAGraph()
        try:
            for g in self.generators:
                graph.register_generator_state(g)
            with torch.cuda.graph(graph):
                self.fn()
        except Exception as err:  # e.g. an op that syncs with the host: keep training eagerly
            for g, state in zip(self.generators, states):
                g.set_state(state)
            self.failed = first_line(err)
            warnings.warn(f"CUDA graph capture failed, using the eager step: {self.failed}", stacklevel=2)
            torch.cuda.synchronize()
            self.fn()
            return
        self.graph = graph
        graph.replay()  # the capture recorded this iteration; now run it


def fast_iteration(fn: Callable[[], None], device: torch.device,
                   generators: list[torch.Generator]) -> Callable[[], None]:
    """`fn` itself (eager) unless graphs are wanted on this device; then a GraphedIteration of it."""
    return GraphedIteration(fn, generators) if graphs_wanted(device) else fn
