"""mixgan.benchmarks: FLOP counts agree between two counters and scale with the stack; it rewrites only its
own BENCHMARKS.md part."""

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mixgan.benchmarks.gan import GAN_VARIANTS, gan_config, gan_flops, record_matmuls, write_markdown
from mixgan.trainers.gan import GanTrainer


@pytest.mark.parametrize("name", GAN_VARIANTS)
@pytest.mark.parametrize("extra", [[], [("model.latent_dim", 5), ("objective.g_loss", "non_saturating")]])
def test_gan_flops_of_a_stack_are_its_members_flops(name, extra):
    # A stack of S members runs S members' GEMMs (batched), nothing more: FLOPs scale exactly with S.
    cfg = gan_config(torch.device("cpu"), [*GAN_VARIANTS[name], *extra, ("model.hidden", 16)])
    one = GanTrainer(cfg, torch.device("cpu"))
    three = GanTrainer([dataclasses.replace(cfg, seed=s) for s in (0, 1, 2)], torch.device("cpu"))
    for t in (one, three):
        t.advance()  # the first iteration creates the optimizer state
    assert gan_flops(three) == 3 * gan_flops(one) > 0


def test_recorded_matmuls_are_the_iterations_flops():
    # The bench's "matmuls alone" replays exactly the iteration's GEMMs: same count of FLOPs.
    cfg = gan_config(torch.device("cpu"), [*GAN_VARIANTS["ERM"], ("model.hidden", 16)])
    trainer = GanTrainer(cfg, torch.device("cpu"))
    trainer.advance()
    expected = gan_flops(trainer)
    flops = 0
    for _op, args, _kw in record_matmuls(trainer.train_step):
        a, b = [x for x in args if isinstance(x, torch.Tensor)][-2:]  # (…, m, k) @ (…, k, n)
        flops += 2 * a.numel() * b.shape[-1]
    assert flops == expected


def test_write_markdown_replaces_only_its_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_markdown(path, "cpu", "first cpu table")
    write_markdown(path, "cuda", "gpu table")
    path.write_text(path.read_text() + "\nNotes written by hand.\n")
    write_markdown(path, "cpu", "second cpu table")
    text = path.read_text()
    assert "second cpu table" in text and "first cpu table" not in text
    assert "gpu table" in text and "Notes written by hand." in text
    assert text.count("<!-- bench:cpu:begin -->") == 1


def test_demo_baseline_does_the_demo_s_extra_work():
    # The demo-structured baseline backprops D steps through G and builds two real+fake batches per
    # D step: about 3x the matmul FLOPs of mixgan's paper-objective iteration, all parameters move.
    from mixgan.benchmarks.demo import demo_iteration
    from mixgan.benchmarks.gan import PAPER

    step = demo_iteration(torch.device("cpu"), hidden=16)
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    trainer = GanTrainer(gan_config(torch.device("cpu"), [*PAPER, ("model.hidden", 16)]), torch.device("cpu"))
    trainer.advance()
    ours = gan_flops(trainer)
    assert 2.5 < counter.get_total_flops() / ours < 4


def test_unusable_device_is_a_one_line_error(capsys):
    from mixgan.benchmarks.gan import main

    for device in ("tpu", "cuda:x") if torch.cuda.is_available() else ("tpu", "cuda"):
        assert main(["--device", device, "--out", ""]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mixgan.benchmarks: error: device") and len(err.strip().splitlines()) == 1
