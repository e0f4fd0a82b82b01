"""mixgan.benchmarks: FLOP counts agree between two counters and scale with the stack; the main-job row times
what `train --mixup` trains, names its objective and shows its matmul floor; it rewrites only its
own BENCHMARKS.md part."""

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mixgan.benchmarks.gan import (
    DEMO,
    ERM_NAME,
    MAIN_NAME,
    MATMULS,
    PAPER_NAME,
    Table,
    bench_main_job,
    gan_config,
    gan_flops,
    gan_variants,
    main_job_overrides,
    record_matmuls,
    write_markdown,
)
from mixgan.config.core import load_config, to_dict
from mixgan.trainers.gan import GanTrainer

IDS = ["paper_form", "main_job", "erm"]  # gan_variants() in order


@pytest.mark.parametrize("name", gan_variants(), ids=IDS)
@pytest.mark.parametrize("extra", [[], [("model.latent_dim", 5), ("objective.g_loss", "non_saturating")]])
def test_gan_flops_of_a_stack_are_its_members_flops(name, extra):
    # A stack of S members runs S members' GEMMs (batched), nothing more: FLOPs scale exactly with S.
    cfg = gan_config(torch.device("cpu"), [*gan_variants()[name], *extra, ("model.hidden", 16)])
    one = GanTrainer(cfg, torch.device("cpu"))
    three = GanTrainer([dataclasses.replace(cfg, seed=s) for s in (0, 1, 2)], torch.device("cpu"))
    for t in (one, three):
        t.advance()  # the first iteration creates the optimizer state
    assert gan_flops(three) == 3 * gan_flops(one) > 0


def test_recorded_matmuls_are_the_iterations_flops():
    # The bench's "matmuls alone" replays exactly the iteration's GEMMs: same count of FLOPs.
    cfg = gan_config(torch.device("cpu"), [*gan_variants()[ERM_NAME], ("model.hidden", 16)])
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


def test_the_main_job_row_times_what_train_mixup_trains():
    # The main job is configs/gan/default.yaml with --mixup (objective.name=mixup): the authors' demo
    # pairing, not the §3.7 form. The bench's main-job iteration has exactly that config.
    def plain(cfg):
        return {k: v for k, v in to_dict(cfg).items() if k not in ("device", "run")}

    main_job = load_config("configs/gan/default.yaml", [("objective.name", "mixup")])
    bench = gan_config(torch.device("cpu"), main_job_overrides())
    assert plain(bench) == plain(main_job)
    assert (bench.objective.pairs, bench.objective.lam) == ("any", "uniform")
    assert gan_variants()[MAIN_NAME] == main_job_overrides()


@pytest.mark.parametrize("name", gan_variants(), ids=IDS)
def test_each_toy_gan_row_is_named_by_what_it_times(name):
    # The row's name states the objective, pairs, λ law and α of the config it times.
    obj = gan_config(torch.device("cpu"), gan_variants()[name]).objective
    if obj.name == "erm":
        assert name == ERM_NAME and not name.startswith("mixup")
        return
    law = {"beta": "λ ~ Beta(α, α)", "uniform": "λ ~ U(0, α)"}[obj.lam]
    pairs = {"real_fake": "real–fake pairs", "any": "any pairs"}[obj.pairs]
    assert name.startswith("mixup") and law in name and pairs in name and f"α = {obj.alpha}" in name
    assert (name == PAPER_NAME) == (obj.pairs == "real_fake")


def test_the_main_job_row_shows_its_matmul_floor_beside_it(capsys):
    # Given the iteration and its matmuls timed side by side (bench_gan), the main-job row adds the
    # metrics' amortized time and prints the floor and the ratios from those same numbers.
    sec = {MAIN_NAME: 0.050, f"{MAIN_NAME}:mm": 0.040, DEMO: 0.100}
    t = Table()
    total = bench_main_job(torch.device("cpu"), t, sec, [("model.hidden", 16), ("metrics.n_samples", 100)])
    name, _, measured, ratio, _ = t.rows[0]
    assert "python -m mixgan.train --mixup" in name and "demo pairing" in name
    assert 0.050 < total < 0.060 and measured.startswith(f"{total * 1e3:.1f} ms/it; matmul floor 40.0 ms/it")
    assert ratio.startswith(f"{0.040 / total:.2f} of it is the floor; {total / 0.1:.2f} of the demo")
    assert "main job" in t.rows[1][0]


def test_the_one_by_one_row_runs_every_gemm_per_member_and_keeps_the_bits(monkeypatch):
    from mixgan.benchmarks.stacks import _members_one_by_one
    from mixgan.models import stacked_mlp as sm

    cfgs = [gan_config(torch.device("cpu"), [("model.hidden", 16), ("seed", s)]) for s in range(2)]
    batched, one_by_one = GanTrainer(cfgs, torch.device("cpu")), GanTrainer(cfgs, torch.device("cpu"))
    checked, original, per_member = sm.batch_invariant, sm._per_member, []

    def spy(*args):
        per_member.append(args[0])
        return original(*args)

    for _ in range(2):
        batched.advance()  # (also caches batch_invariant's check, which runs GEMMs per member itself)
        per_member.clear()
        monkeypatch.setattr(sm, "_per_member", spy)
        _members_one_by_one(one_by_one.advance)
        monkeypatch.setattr(sm, "_per_member", original)
        assert {sm._forward, sm._grad_x, sm._grad_W} <= set(per_member)
        assert sm.batch_invariant is checked  # restored after the step
    # on a CPU whose batched GEMMs are batch-invariant both paths are the same sums; where they are
    # not, the batched stack runs member by member too
    assert torch.equal(batched.window, one_by_one.window)
    for s in range(2):
        a, b = batched.member_state(s), one_by_one.member_state(s)
        assert all(torch.equal(a["D"][k], b["D"][k]) for k in a["D"])


@pytest.mark.parametrize("variant", ["r1", "wgan_gp", "adaptivemix"])
def test_the_stabilizer_rows_replay_every_gemm_of_their_iteration(variant):
    # The stabilizer rows' floor replays R1's and GP's double backward too, whose GEMMs take expanded
    # (stride-0) operands: the recorded calls are the GEMMs torch.profiler sees in the same step (op and
    # shapes; FlopCounterMode refuses autograd.grad), and the replay runs on their layouts.
    from torch.profiler import ProfilerActivity, profile

    from mixgan.benchmarks.stabilizers import stabilizer_variants

    cfg = gan_config(torch.device("cpu"), [*stabilizer_variants()[variant], ("model.hidden", 16)])
    trainer = GanTrainer(cfg, torch.device("cpu"))
    trainer.advance()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        trainer.train_step()
    names = {f"aten::{n}" for n in MATMULS}
    # tensor operands' shapes (the profiler lists beta and alpha as [] too)
    seen = sorted((e.name, str([s for s in e.input_shapes if s])) for e in prof.events() if e.name in names)
    trainer.advance()  # the same step again, recorded
    calls = record_matmuls(trainer.train_step)
    got = sorted((f"aten::{op.overloadpacket.__name__}",
                  str([list(a.shape) for a in args if isinstance(a, torch.Tensor)])) for op, args, _ in calls)
    assert got == seen and len(got) > 0
    for op, args, kw in calls:
        assert op(*args, **kw).isfinite().all()
    if variant != "adaptivemix":  # a gradient penalty: its double backward has an expanded operand
        assert any(0 in x.stride() for _, args, _ in calls for x in args if isinstance(x, torch.Tensor))


def test_the_stabilizer_rows_are_the_variants_of_the_sweeps_that_compare_them():
    from mixgan.benchmarks.stabilizers import SWEEPS, stabilizer_variants
    from mixgan.config.sweep import load_sweep

    rows = stabilizer_variants()
    assert list(rows) == list(dict.fromkeys(r.variant for s in SWEEPS for r in load_sweep(s).runs))
    assert rows["r1"] == [("stabilizers.r1.weight", 1.0)] and rows["erm"] == []
    # a variant's own overrides only: the sweeps' width, length and cadences are not in them
    assert not any(k.startswith(("model.", "train.", "metrics.")) for ov in rows.values() for k, _ in ov)
