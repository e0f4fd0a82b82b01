"""The classifier rows of `python -m mixgan.benchmarks`: mixup's cost in a step, throughput, input
pipeline."""

from __future__ import annotations

from typing import Any

import torch

from mixgan.benchmarks.gan import Table, timed


def _objective(name: str, alpha: float) -> Any:
    """The classifier objective `name` with the paper's defaults (one λ ~ Beta(α, α) per batch)."""
    from types import SimpleNamespace

    from mixgan.objectives.classify import make_classify_objective

    return make_classify_objective(SimpleNamespace(
        name=name, alpha=alpha, lam="beta", per_sample=False, pairing="random", neighbors=0, mix_labels=True,
        mix_layer=0, label_smoothing=0.0, input_noise=0.0))


def _classifier_step(model: Any, objective: Any, opt: Any, x: torch.Tensor, y: torch.Tensor,
                     gen: torch.Generator, amp: bool) -> None:
    """What ClassifierTrainer.advance does per batch: objective (mixup or ERM), backward, step."""
    import contextlib

    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with ctx:
        out = objective(model, x, y, gen)
    loss = out.loss / x.shape[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_classifier(device: torch.device, t: Table, quick: bool) -> None:
    """PreAct ResNet-18 steps, ERM against mixup, on CIFAR-shaped tensors; the input pipeline alone."""
    from types import SimpleNamespace

    from mixgan.data.augment import augment
    from mixgan.data.classify import NORMALIZATION
    from mixgan.mixup import mix_batch
    from mixgan.models.classify import make_classifier

    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = cuda  # fixed shapes, as ClassifierTrainer sets it
    torch.set_float32_matmul_precision("highest")  # as in a classifier run (the GAN rows set TF32)
    B = 128 if cuda else 32
    n_images = 50_000 if cuda else 4096
    gen = torch.Generator(device).manual_seed(0)
    x_train = torch.rand(n_images, 3, 32, 32, device=device, generator=gen)
    y_train = torch.randint(0, 10, (n_images,), device=device, generator=gen)
    torch.manual_seed(0)
    model = make_classifier(SimpleNamespace(name="preact_resnet18", dropout=0.0), (3, 32, 32), 10,
                            NORMALIZATION["cifar10"]).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    objs = {name: _objective(name, 1.0) for name in ("erm", "mixup")}

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, n_images, (B,), device=device, generator=gen)
        x = augment(x_train[idx], gen)
        return (x.contiguous(memory_format=torch.channels_last) if cuda else x), y_train[idx]

    steps = {name: (lambda o=o: _classifier_step(model, o, opt, *batch(), gen, cuda))
             for name, o in objs.items()}
    for fn in steps.values():
        fn()
    sec = timed(steps, device, calls=2 if quick else 3, repeats=3 if quick else 5)
    shape = f"PreAct ResNet-18, batch {B}, 3×32×32 (CIFAR-shaped tensors)"
    shape += ", bf16 autocast, channels_last" if cuda else ""
    t.add("classifier step, mixup / ERM (α = 1)", shape,
          f"{sec['mixup'] * 1e3:.0f} vs {sec['erm'] * 1e3:.0f} ms/step", f"{sec['mixup'] / sec['erm']:.3f}",
          "≤ 1.03")
    t.add("classifier throughput, CIFAR-shaped, mixup", shape, f"{B / sec['mixup']:.0f} images/s")

    def pipeline() -> None:  # fetch, crop + flip, mixup: everything but the network
        x, y = batch()
        mix_batch(x, y, 1.0, generator=gen)

    pipe = timed({"p": pipeline}, device, calls=20, repeats=3)["p"]
    t.add("input pipeline alone (fetch, crop+flip, mixup on the device)", f"batch {B}, 3×32×32",
          f"{B / pipe:.0f} images/s", f"{sec['mixup'] / pipe:.0f}× the training step's rate: "
          f"{'compute' if pipe < sec['mixup'] / 2 else 'data'}-bound")
    bench_digits(device, t, quick)
    bench_imagenet(device, t, quick)


def bench_imagenet(device: torch.device, t: Table, quick: bool, size: int | None = None,
                   batch: int | None = None) -> float:
    """Training throughput of the ImageNet preset's network (torchvision ResNet-50, mixup α = 0.2, SGD)
    on random tensors: a few batches at a small image size on the CPU, 224 px on a GPU. Images/s."""
    from types import SimpleNamespace

    from mixgan.data.classify import NORMALIZATION
    from mixgan.models.classify import make_classifier

    cuda = device.type == "cuda"
    size = size or (224 if cuda else 64)
    batch = batch or (256 if cuda else 16)
    torch.manual_seed(0)
    model = make_classifier(SimpleNamespace(name="resnet50", dropout=0.0), (3, size, size), 1000,
                            NORMALIZATION["imagefolder"]).to(device)
    gen = torch.Generator(device).manual_seed(0)
    x = torch.rand(batch, 3, size, size, device=device, generator=gen)
    y = torch.randint(0, 1000, (batch,), device=device, generator=gen)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    mixup = _objective("mixup", 0.2)

    def step() -> None:
        _classifier_step(model, mixup, opt, x, y, gen, cuda)

    step()  # warm-up (cuDNN autotuning, allocator)
    calls = (2 if quick else 5) if cuda else 1  # a CPU step takes seconds: a few batches in all
    sec = timed({"s": step}, device, calls=calls, repeats=3)["s"]
    shape = f"torchvision ResNet-50, batch {batch}, 3×{size}×{size}, SGD"
    shape += ", bf16 autocast, channels_last" if cuda else ""
    t.add("ImageNet-preset network, mixup step (α = 0.2)", shape, f"{batch / sec:.1f} images/s")
    return batch / sec


def bench_digits(device: torch.device, t: Table, quick: bool) -> None:
    """The real ClassifierTrainer on embedded digits (small CNN): one epoch per call, ERM and mixup."""
    from mixgan.config.core import load_config
    from mixgan.trainers.classifier import ClassifierTrainer

    trainers = {}
    for name in ("erm", "mixup"):
        cfg = load_config(None, [("device", device.type), ("objective.name", name)], task="classify")
        trainers[name] = ClassifierTrainer(cfg, device)
    for tr in trainers.values():
        tr.advance()
    sec = timed({k: tr.advance for k, tr in trainers.items()}, device, calls=1, repeats=3 if quick else 5)
    n = trainers["erm"].data.n_train
    t.add("classifier epoch, mixup / ERM, digits (ClassifierTrainer)",
          f"small CNN, batch 128, {n} images 1×8×8",
          f"{n / sec['mixup']:.0f} vs {n / sec['erm']:.0f} images/s", f"{sec['mixup'] / sec['erm']:.3f}",
          "≤ 1.03")


