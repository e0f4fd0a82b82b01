"""`python -m mixgan.benchmarks`: the speed table of issue 7, every ratio measured side by side in one run.

Rows: the toy-GAN iteration of each objective against its matmul floor, the main job (`python -m
mixgan.train --mixup`: the demo pairing) with its metrics and its floor, S seeds stacked against S
sequential runs (benchmarks/stacks.py), PacGAN's protocol alone and stacked (benchmarks/protocol.py),
each toy stabilizer's iteration against its floor (benchmarks/stabilizers.py), mixup's cost in a
classifier step, classifier throughput and the input pipeline alone.
Each row's name says which objective it times. The table (with the machine) goes to stdout and into
BENCHMARKS.md, between markers of its device kind, so a CPU run and a GPU run each keep their own
section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

PAPER = [("objective.name", "mixup"), ("objective.pairs", "real_fake"), ("objective.lam", "beta")]
# What each toy-GAN row times, in its name: the §3.7 formula, what `--mixup` runs, and ERM.
PAPER_NAME = "mixup, §3.7 form (real–fake pairs, λ ~ Beta(α, α), α = 0.2)"
MAIN_NAME = "mixup, demo pairing = `train --mixup` (any pairs, λ ~ U(0, α) per point, α = 0.2)"
ERM_NAME = "ERM = `train` without --mixup"


def main_job_overrides() -> list[tuple[str, Any]]:
    """What `python -m mixgan.train --mixup` sets on the default config, read from the train command's
    parser (config/cli.py; objective.name=mixup today), so that the main-job row cannot drift from the
    main job."""
    from mixgan.config.cli import cli_overrides, train_parser

    args, rest = train_parser().parse_known_args(["--mixup"])
    return cli_overrides(args, rest)


def gan_variants() -> dict[str, list[tuple[str, Any]]]:
    """Row name → the overrides of the toy-GAN iterations the bench times side by side."""
    return {PAPER_NAME: PAPER, MAIN_NAME: main_job_overrides(), ERM_NAME: []}
DEMO_MS = (66.0, 70.0)  # the authors' demo, mixup, on this machine class (issue 7's figure)
DEMO = "authors' demo structure, mixup (mixgan/benchmarks/demo.py)"
CUDA_NOTE = {"cuda": " (CUDA graph, TF32: the defaults)", "cpu": ""}


class Table:
    """Rows of (benchmark, shapes, measured, side-by-side ratio, target) → Markdown."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, name: str, shapes: str, measured: str, ratio: str = "", target: str = "") -> None:
        self.rows.append((name, shapes, measured, ratio, target))
        print(f"  {name}: {measured}  {ratio}", flush=True)

    def markdown(self) -> str:
        head = ("benchmark", "shapes / settings", "measured", "ratio (same run)", "target")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in self.rows])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fns: dict[str, Callable[[], Any]], device: torch.device, calls: int,
          repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, the functions interleaved repeat by repeat (so a
    load change on a shared machine hits them alike)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            _sync(device)
            times[name].append((time.perf_counter() - start) / calls)
    return {k: statistics.median(v) for k, v in times.items()}


def machine(device: torch.device) -> str:
    """One line: the processor or GPU, cores/threads, torch and CUDA versions, load average."""
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        what = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}"
    else:
        model = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        what = (f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
                f"{torch.backends.cpu.get_cpu_capability()}")
    return f"{what}; torch {torch.__version__}; Python {sys.version.split()[0]}"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# -- toy GAN ------------------------------------------------------------------------------------
def gan_config(device: torch.device, extra: list[tuple[str, Any]]) -> Any:
    from mixgan.config.core import load_config

    return load_config(None, [("device", device.type), ("run.progress", False), *extra], task="gan")


def width(cfg: Any) -> str:
    """The MLPs' shape as a row label says it: 3×128 (the main job) or 3×512 (the paper)."""
    return f"{cfg.model.depth}×{cfg.model.hidden}"


def gan_flops(trainer: Any) -> float:
    """Matmul FLOPs of one iteration of `trainer` (elementwise work not counted), counted by
    torch.utils.flop_counter over what the objective really sends through D and G (one extra step)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.train_step()
    return float(counter.get_total_flops())


def matmul_floor(device: torch.device, hidden: int, rows: int, t: Table) -> float:
    a = torch.randn(rows, hidden, device=device)
    w = torch.randn(hidden, hidden, device=device)
    # On CUDA both precisions the toy GAN can use (train.tf32); the CPU has one.
    for precision in (("highest", "high") if device.type == "cuda" else ("highest",)):
        torch.set_float32_matmul_precision(precision)
        sec = timed({"mm": lambda: a @ w.T}, device, calls=50, repeats=5)["mm"]
        gflops = 2 * rows * hidden * hidden / sec / 1e9
        kind = "TF32" if precision == "high" else "fp32"
        t.add(f"plain {kind} matmul", f"{rows}×{hidden} @ {hidden}×{hidden}", f"{gflops:.0f} GFLOP/s")
    torch.set_float32_matmul_precision("highest")
    return gflops


MATMULS = ("mm", "addmm", "bmm", "baddbmm")


def record_matmuls(step: Callable[[], Any]) -> list[tuple[Any, list[Any], dict[str, Any]]]:
    """Every matmul `step` runs (forward and backward), as (op, arguments, kwargs) with random
    tensors of the same shapes and memory layouts (so the same GEMM kernels run on replay)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    ops = {getattr(torch.ops.aten, name).default for name in MATMULS}
    calls: list[tuple[Any, list[Any], dict[str, Any]]] = []

    def like(a: Any) -> Any:
        if not isinstance(a, torch.Tensor):
            return a
        # a storage of the size the strides span, viewed with them: overlapping layouts too (a stride of
        # 0, as the expanded ones in R1's double backward, which empty_strided cannot fill)
        span = 1 + sum((n - 1) * st for n, st in zip(a.shape, a.stride())) if a.numel() else 0
        base = torch.empty(span, dtype=a.dtype, device=a.device).uniform_(-1, 1)
        return base.as_strided(a.shape, a.stride())

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func in ops:
                calls.append((func, [like(a) for a in args], dict(kwargs or {})))
            return func(*args, **(kwargs or {}))

    with Record():
        step()
    return calls


def matmuls_alone(step: Callable[[], Any]) -> Callable[[], Any]:
    """A function that replays `step`'s matmuls alone (record_matmuls): the floor a row times beside it."""
    calls = record_matmuls(step)
    return lambda: [f(*a, **kw) for f, a, kw in calls]


def bench_gan(device: torch.device, t: Table, quick: bool) -> dict[str, float]:
    """ms/it of each objective's iteration (interleaved) against the same iteration's matmuls alone
    (recorded, then replayed with the same shapes and layouts): how close it runs to the floor; and
    the demo-structured iteration (mixgan/benchmarks/demo.py) in the same interleaving.
    Returns seconds per call: `<row name>`, `<row name>:mm` (its matmuls alone) and DEMO."""
    from mixgan.trainers.gan import GanTrainer

    trainers = {name: GanTrainer(gan_config(device, ov), device) for name, ov in gan_variants().items()}
    replays = {}
    for name, tr in trainers.items():
        for _ in range(3):
            tr.advance()
        replays[f"{name}:mm"] = matmuls_alone(tr.train_step)
    from mixgan.benchmarks.demo import demo_iteration

    demo = demo_iteration(device)
    for _ in range(3):
        demo()
    fns = {**{k: tr.advance for k, tr in trainers.items()}, **replays, DEMO: demo}
    sec = timed(fns, device, calls=5 if quick else 10, repeats=3 if quick else 5)
    t.add(DEMO, "mixup α = 0.2, batches built on the host, D steps backprop through G, default Adam",
          f"{sec[DEMO] * 1e3:.1f} ms/it", f"issue 7's figure for the real demo here: {DEMO_MS[0]:.0f}–"
          f"{DEMO_MS[1]:.0f} ms")
    for name, tr in trainers.items():
        gf = gan_flops(tr) / sec[name] / 1e9
        mm = sec[f"{name}:mm"]
        t.add(f"toy GAN iteration, {name}", f"5 D + 1 G steps, batch 128, {width(tr.cfg)} MLPs"
              + CUDA_NOTE[device.type],
              f"{sec[name] * 1e3:.1f} ms/it ({gf:.0f} GFLOP/s); its matmuls alone {mm * 1e3:.1f} ms",
              f"{mm / sec[name]:.2f} of the time is matmul")
    return sec


def bench_main_job(device: torch.device, t: Table, sec: dict[str, float],
                   extra: list[tuple[str, Any]] | None = None) -> float:
    """The main job, `python -m mixgan.train --mixup` (the demo pairing), with its metrics at the
    default cadence: measure every 100 iterations, a picture every 500, a checkpoint every 500; each
    part timed here, then amortized over its interval and added to the same objective's iteration
    timed by `bench_gan` (`sec`). Beside it, the matmul floor (that iteration's matmuls alone, from the
    same run) and the demo-structured iteration timed in the same interleaving. Returns s/it."""
    from mixgan.rundir.checkpoint import save_checkpoint
    from mixgan.rundir.logger import RunLogger
    from mixgan.trainers.gan import GanTrainer
    from mixgan.trainers.loop import checkpoint_payload

    cfg = gan_config(device, [*main_job_overrides(), *(extra or [])])
    tr = GanTrainer(cfg, device)
    for _ in range(3):
        tr.advance()
    with tempfile.TemporaryDirectory() as tmp:
        logger = RunLogger(tmp)

        def measure() -> None:
            logger.log(tr.step, tr.measure()[0])

        def checkpoint() -> None:
            save_checkpoint(checkpoint_payload(tr.step, cfg, 0.0, tr.member_state(0)), Path(tmp) / "c.pt")

        parts = {"measure": measure, "pictures": lambda: tr.pictures(0, logger), "checkpoint": checkpoint}
        parts_sec = timed(parts, device, calls=1, repeats=3)
        logger.close()
    m = cfg.metrics
    metrics = parts_sec["measure"] / m.every + parts_sec["pictures"] / m.image_every
    ckpt = parts_sec["checkpoint"] / cfg.run.checkpoint_every
    total = sec[MAIN_NAME] + metrics + ckpt
    floor, demo = sec[f"{MAIN_NAME}:mm"], sec[DEMO]
    not_floor = " (an eager replay: launch-bound, not a floor on CUDA)" if device.type == "cuda" else ""
    t.add("main job iteration incl. metrics: `python -m mixgan.train --mixup` (mixup, demo pairing)",
          f"the `train --mixup` toy-GAN iteration above, plus metrics every {m.every} "
          f"({parts_sec['measure'] * 1e3:.0f} ms), picture every {m.image_every} "
          f"({parts_sec['pictures'] * 1e3:.0f} ms), checkpoint every {cfg.run.checkpoint_every}",
          f"{total * 1e3:.1f} ms/it; matmul floor {floor * 1e3:.1f} ms/it (its iteration's matmuls alone, "
          f"same run){not_floor}",
          f"{floor / total:.2f} of it is the floor; {total / demo:.2f} of the demo structure's "
          f"{demo * 1e3:.1f} ms (same run; the demo at 3×512, the main job at {width(cfg)}); "
          f"{total * 1e3 / DEMO_MS[1]:.2f}–{total * 1e3 / DEMO_MS[0]:.2f} "
          "of issue 7's figure", "≤ 0.5 of the demo")
    t.add("metric overhead of the main job (time in metrics / its training time)",
          "default cadence, as above", f"{100 * metrics / total:.1f} %", "", "< 5 %")
    return total


# -- CUDA only ----------------------------------------------------------------------------------
def bench_cuda_graph(device: torch.device, t: Table) -> None:
    """The paper-objective iteration eagerly and as a CUDA-graph replay, in fp32 and TF32."""
    from mixgan.trainers.cuda_graph import ENV
    from mixgan.trainers.gan import GanTrainer

    old = os.environ.get(ENV)
    trainers = {}
    variants = (("eager fp32", "0", False), ("graph fp32", "1", False), ("graph TF32", "1", True))
    for name, graphs, tf32 in variants:
        os.environ[ENV] = graphs
        trainers[name] = GanTrainer(gan_config(device, [*PAPER, ("train.tf32", tf32)]), device)
        for _ in range(5):  # capture happens here, under this trainer's precision
            trainers[name].advance()
    if old is None:
        os.environ.pop(ENV)
    else:
        os.environ[ENV] = old
    sec = timed({k: tr.advance for k, tr in trainers.items()}, device, calls=50, repeats=5)
    eager, g32, gtf = (sec[k] for k in trainers)
    fast = trainers["graph TF32"]._fast
    state = "captured" if fast.captured else f"NOT captured: {fast.failed}"
    t.add(f"toy GAN iteration, CUDA graph vs eager, {PAPER_NAME}",
          f"5 D + 1 G, batch 128, {width(trainers['graph TF32'].cfg)} ({state})",
          f"graph TF32 {gtf * 1e3:.2f}, graph fp32 {g32 * 1e3:.2f}, eager fp32 {eager * 1e3:.2f} ms/it",
          f"graph {eager / g32:.1f}× eager; TF32 {g32 / gtf:.1f}× fp32")


def write_markdown(path: Path, kind: str, body: str) -> None:
    """Replace this device kind's section of BENCHMARKS.md (markers kept), leaving the rest."""
    begin, end = f"<!-- bench:{kind}:begin -->", f"<!-- bench:{kind}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixgan.benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--seeds", type=int, default=0, help="S of the batched row (default: 8 CPU, 16 CUDA)")
    p.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-protocol", action="store_true", help="skip PacGAN's protocol rows (slow on a CPU)")
    p.add_argument("--no-stabilizers", action="store_true", help="skip the toy stabilizer rows")
    p.add_argument("--out", default="BENCHMARKS.md", help="Markdown file to update ('' : don't write)")
    args = p.parse_args(argv)
    for name in ("seeds", "threads"):
        if getattr(args, name) < 0:
            p.error(f"--{name}: got {getattr(args, name)}; accepted: an integer >= 0 (0: the default)")
    from mixgan.config.gan import check_device
    from mixgan.errors import MixganError
    from mixgan.experiments.run import resolve_device

    try:
        check_device(args.device)
        device = resolve_device(args.device)
    except MixganError as err:  # one line, no traceback (e.g. --device cuda on a machine without CUDA)
        print(f"mixgan.benchmarks: error: {err}", file=sys.stderr)
        return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seeds = args.seeds or (16 if device.type == "cuda" else 8)
    start_load, start = load(), time.perf_counter()
    print(f"mixgan.benchmarks on {device}: {machine(device)}", flush=True)
    print(f"load average at start: {start_load}", flush=True)
    t = Table()
    for rows in (128, 256):
        matmul_floor(device, 512, rows, t)
    sec = bench_gan(device, t, args.quick)
    if device.type == "cuda":
        bench_cuda_graph(device, t)
    job_sec = bench_main_job(device, t, sec)
    from mixgan.benchmarks.stacks import bench_batched

    batch_sec = bench_batched(device, t, seeds, args.quick)
    if not args.no_protocol:
        from mixgan.benchmarks.protocol import bench_protocol

        bench_protocol(device, t, args.quick)
    if not args.no_stabilizers:
        from mixgan.benchmarks.stabilizers import bench_stabilizers

        bench_stabilizers(device, t, args.quick)
    if device.type == "cuda":  # the H100 targets, projected from the rows above
        t.add("Figure 5 setting, one seed, projected", "20,000 × the main-job iteration incl. metrics "
              "(`--mixup`, demo pairing; the preset measures less often)",
              f"{20_000 * job_sec:.0f} s", "", "< 30 s (H100)")
        t.add(f"{seeds} seeds batched, projected",
              f"20,000 × the batched iteration ({PAPER_NAME}; no metrics)",
              f"{20_000 * batch_sec:.0f} s", "", "< 120 s for 16 seeds (H100)")
    from mixgan.benchmarks.classify import bench_classifier

    bench_classifier(device, t, args.quick)
    wall = time.perf_counter() - start
    body = (f"### {device.type.upper()}: {machine(device)}\n\n"
            f"`python -m mixgan.benchmarks --device {device.type}{' --quick' if args.quick else ''}"
            f"{f' --threads {args.threads}' if args.threads else ''}`, "
            f"{time.strftime('%Y-%m-%d %H:%M')}, {wall:.0f} s; load average (1, 5, 15 min) at start "
            f"{start_load}, at end {load()}.\n\n{t.markdown()}\n")
    print("\n" + body)
    if args.out:
        write_markdown(Path(args.out), device.type, body)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
