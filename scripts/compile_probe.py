"""How much torch.compile (Inductor, C++/OpenMP on the CPU) could take off the main job's iteration.

    OMP_NUM_THREADS=1 python scripts/compile_probe.py [--iterations 300] [--repeats 2]

The main job's iteration (3×128 MLPs, batch 128, 5 D steps + 1 G step, the demo's mixup pairing) as
plain PyTorch, outside mixgan's engine: eager, with the D and G steps' losses and backward compiled,
and with the Adam steps compiled too. Each variant runs in a fresh process, alternating, so all see
the same load; the first compiled process pays the compilation, later ones read Inductor's cache.
Compiled numerics are not eager's bit for bit, so this is a probe for issue 32, not an engine path.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

MODES = ("eager", "compile_steps", "compile_all")


def run(mode: str, iterations: int) -> tuple[float, float]:
    """(ms per iteration, seconds of compilation and first 2 iterations) for one mode, in this process."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    H, B = 128, 128

    def mlp(n_in: int, n_out: int) -> torch.nn.Sequential:
        return torch.nn.Sequential(torch.nn.Linear(n_in, H), torch.nn.ReLU(), torch.nn.Linear(H, H),
                                   torch.nn.ReLU(), torch.nn.Linear(H, H), torch.nn.ReLU(),
                                   torch.nn.Linear(H, n_out))

    G, D = mlp(2, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, foreach=True)
    means = torch.tensor([[i, j] for i in (-1.0, 0.0, 1.0) for j in (-1.0, 0.0, 1.0)])
    targets = torch.cat([torch.ones(B, 1), torch.zeros(B, 1)])

    def d_step(x: torch.Tensor, z: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        opt_d.zero_grad(set_to_none=True)
        both = torch.cat([x, G(z).detach()])  # the demo: real+fake, mixed with a shuffled copy
        loss = F.binary_cross_entropy_with_logits(D(lam * both + (1 - lam) * both[perm]),
                                                  lam * targets + (1 - lam) * targets[perm])
        loss.backward()
        return loss

    def g_step(z: torch.Tensor) -> torch.Tensor:
        opt_g.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(B, 1))
        loss.backward()
        return loss

    ds, gs, step_d, step_g = d_step, g_step, opt_d.step, opt_g.step
    if mode != "eager":
        ds, gs = torch.compile(d_step), torch.compile(g_step)
    if mode == "compile_all":
        step_d, step_g = torch.compile(opt_d.step), torch.compile(opt_g.step)

    def iteration() -> None:
        for _ in range(5):
            x = means[torch.randint(0, 9, (B,))] + 0.01 * torch.randn(B, 2)
            ds(x, torch.randn(B, 2), 0.2 * torch.rand(2 * B, 1), torch.randperm(2 * B))
            step_d()
        gs(torch.randn(B, 2))
        step_g()

    start = time.perf_counter()
    iteration()
    iteration()
    first = time.perf_counter() - start
    for _ in range(20):
        iteration()
    start = time.perf_counter()
    for _ in range(iterations):
        iteration()
    return (time.perf_counter() - start) / iterations * 1e3, first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # a child process's one measurement
    args = p.parse_args(argv)
    if args.mode:
        ms, first = run(args.mode, args.iterations)
        print(f"{ms} {first}")
        return 0
    times: dict[str, list[float]] = {m: [] for m in MODES}
    firsts: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            cmd = [sys.executable, __file__, "--mode", mode, "--iterations", str(args.iterations)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            ms, first = map(float, out.stdout.split()[-2:])
            times[mode].append(ms)
            firsts[mode].append(first)
    base = statistics.median(times["eager"])
    print(f"main job's iteration as plain PyTorch, {args.iterations} iterations, median of {args.repeats}")
    print("| mode | ms/it | / eager | first 2 iterations incl. compiling (s), per process |")
    print("|---|---|---|---|")
    for mode in MODES:
        m = statistics.median(times[mode])
        print(f"| {mode} | {m:.2f} | {m / base:.2f} | {', '.join(f'{f:.1f}' for f in firsts[mode])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
