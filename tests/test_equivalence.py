"""A member of a stack computes, bit for bit, what its run computes alone (docs/design.md, "Randomness").

Checked step by step from identical states (not after many chaotic GAN steps), with no tolerance: a
member's weights, Adam moments and random stream after each iteration equal the run alone's. The
pieces that make it hold on any x86-64 CPU are tested on their own: the batched GEMMs are used only
where they are batch-invariant (else each member runs at batch 1), Adam is not the fused CPU kernel
(whose vector body and scalar tail round differently), spectral norm's power iteration avoids
batched GEMMs. `.ci/run` runs this file also under ATEN_CPU_CAPABILITY=avx2 and with 1 and 2 threads.
"""

import pytest
import torch

import mixgan.models.stacked_mlp as sm
from mixgan.config.core import load_config
from mixgan.models.mlp import mlp
from mixgan.models.stacked_mlp import StackedMLP, batch_invariant, stacked_linear
from mixgan.trainers.gan import GanTrainer, make_adam

OBJECTIVES = {
    "erm": [],
    "mixup_demo": [("objective.name", "mixup")],
    "mixup_paper": [("objective.name", "mixup"), ("objective.pairs", "real_fake"), ("objective.lam", "beta")],
    "r1_hinge": [("stabilizers.r1.weight", 1.0), ("objective.loss", "hinge")],
    "wgan_gp": [("objective.loss", "wasserstein"), ("stabilizers.gp.weight", 1.0)],
    "dragan_noise_lsgan": [("stabilizers.dragan.weight", 1.0), ("stabilizers.noise.std", 0.1),
                           ("objective.loss", "least_squares")],
    "pac2_sn_ema": [("stabilizers.pack", 2), ("stabilizers.spectral_norm", True), ("train.ema", 0.9)],
}


def trainer(seeds: list[int], extra: list, hidden: int = 64) -> GanTrainer:
    cfgs = [load_config(None, [("seed", s), ("model.hidden", hidden), ("train.iterations", 10), *extra])
            for s in seeds]
    return GanTrainer(cfgs, torch.device("cpu"))


def assert_member_equals_alone(stack: GanTrainer, s: int, alone: GanTrainer) -> None:
    got, want = stack.member_state(s), alone.member_state(0)
    for net in [k for k in want if k in ("G", "D", "G_ema", "D_sn")]:
        for k in want[net]:
            assert torch.equal(got[net][k], want[net][k]), f"{net}.{k}"
    for opt in ("opt_G", "opt_D"):
        for i, st in want[opt]["state"].items():
            for k in st:
                assert torch.equal(got[opt]["state"][i][k], st[k]), f"{opt}[{i}].{k}"
    assert torch.equal(got["rng"]["gen"], want["rng"]["gen"])
    assert torch.equal(got["window"], want["window"])


@pytest.mark.parametrize("name", OBJECTIVES)
@pytest.mark.parametrize("members", [3, 17])  # 17: a member's slice of Adam's state is no longer
def test_a_member_steps_exactly_as_it_would_alone(name, members):  # in the tail of a vector loop
    alone = trainer([4], OBJECTIVES[name])
    stack = trainer([1, 4, *range(100, 100 + members - 2)], OBJECTIVES[name])
    assert_member_equals_alone(stack, 1, alone)  # the same start
    for _ in range(3):
        alone.advance()
        stack.advance()
        assert_member_equals_alone(stack, 1, alone)
    assert not torch.equal(stack.member_state(0)["G"]["0.weight"], alone.member_state(0)["G"]["0.weight"])


def test_members_run_one_by_one_where_batched_gemms_are_not_batch_invariant(monkeypatch):
    # The path taken on a CPU whose BLAS picks another kernel for a batch: still exactly alone.
    monkeypatch.setattr(sm, "batch_invariant", lambda *shape: False)
    alone, stack = trainer([4], []), trainer([1, 4, 5], [])
    for _ in range(2):
        alone.advance()
        stack.advance()
    assert_member_equals_alone(stack, 1, alone)


def test_the_batch_invariance_check_can_fail(monkeypatch):
    # A batched kernel that sums in float64 for S > 1 differs from batch 1 in the last bits.
    def other_kernel(x, W, b):
        if x.shape[0] == 1:
            return torch.baddbmm(b.unsqueeze(1), x, W.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(1).double(), x.double(), W.double().transpose(1, 2)).float()

    monkeypatch.setattr(sm, "_INVARIANT", {})
    assert batch_invariant(3, 64, 32, 16)
    monkeypatch.setattr(sm, "_INVARIANT", {})
    monkeypatch.setattr(sm, "_forward", other_kernel)
    assert not batch_invariant(3, 64, 32, 16)


@pytest.mark.parametrize("invariant", [True, False])
def test_stacked_linear_is_exactly_each_member_at_batch_one(monkeypatch, invariant):
    monkeypatch.setattr(sm, "batch_invariant", lambda *shape: invariant)
    g = torch.Generator().manual_seed(0)
    W, b, x = (torch.randn(*shape, generator=g, requires_grad=True) for shape in ((5, 32, 16), (5, 32),
                                                                                 (5, 64, 16)))
    y = stacked_linear(x, W, b)
    grad = torch.randn(y.shape, generator=g)
    y.backward(grad)
    for s in range(5):
        Ws, bs, xs = (t.detach()[s:s + 1].clone().requires_grad_() for t in (W, b, x))
        ys = stacked_linear(xs, Ws, bs)
        ys.backward(grad[s:s + 1])
        assert torch.equal(y[s:s + 1].detach(), ys.detach())
        for stacked, one in ((W, Ws), (b, bs), (x, xs)):
            assert torch.equal(stacked.grad[s:s + 1], one.grad)


def test_adam_updates_a_member_exactly_wherever_it_sits_in_the_stack():
    # Rows of 17: element 0 sits in a vector loop's body, element 16 in its scalar tail; alone, each
    # is a tensor of one (all tail). The fused CPU kernel differs there (about 1 element in 150).
    g = torch.Generator().manual_seed(0)
    p0, grads = torch.randn(500, 17, generator=g), torch.randn(10, 500, 17, generator=g)
    grads *= torch.logspace(-8, 0, 10).view(10, 1, 1)  # gradients from tiny to large
    cfg = load_config(None, []).train
    stacked = torch.nn.Parameter(p0.clone())
    alone = [torch.nn.Parameter(p0[i, j:j + 1].clone()) for i in range(500) for j in (0, 16)]
    opt_s, opt_a = make_adam([stacked], cfg, torch.device("cpu")), make_adam(alone, cfg, torch.device("cpu"))
    for t in range(10):
        stacked.grad = grads[t].clone()
        for k, p in enumerate(alone):
            i, j = divmod(k, 2)
            p.grad = grads[t, i, 16 * j:16 * j + 1].clone()
        opt_s.step()
        opt_a.step()
    assert torch.equal(stacked.detach()[:, [0, 16]].reshape(-1), torch.cat([p.detach() for p in alone]))


def test_spectral_norm_starts_warmed_up_and_members_do_not_depend_on_the_stack():
    torch.manual_seed(0)
    nets = [mlp(2, 1, 256, 3) for _ in range(3)]
    D = StackedMLP(nets, spectral_norm=True)
    for i, W in enumerate(D.weight):  # the first forward's σ = uᵀWv against the exact top singular value
        u, v = getattr(D, f"sn_u{i}"), getattr(D, f"sn_v{i}")
        ratio = (u * (W * v.unsqueeze(1)).sum(2)).sum(1) / torch.linalg.matrix_norm(W.detach(), 2)
        assert ((ratio > 0.95) & (ratio <= 1 + 1e-5)).all(), (i, ratio)  # unwarmed: about 0.7
    alone = StackedMLP(nets[1:2], spectral_norm=True)
    x = torch.randn(3, 40, 2)
    assert torch.equal(D(x)[1], alone(x[1:2])[0])
    assert D.member_sn_state(1).keys() == alone.member_sn_state(0).keys()
    for k, t in alone.member_sn_state(0).items():
        assert torch.equal(D.member_sn_state(1)[k], t), k


def test_a_members_quality_metrics_do_not_depend_on_its_stack():
    # The metrics rows of a member equal its run alone's too: scored in one call for S members.
    from mixgan.data import GAN_DATA
    from mixgan.metrics.toy import ToyReference

    data = GAN_DATA["grid25"](std=0.01, radius=1.0, spacing=0.5)
    ref = ToyReference(data, 500, 2000, "cpu", 3.0)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(5, 2000, 2, generator=g)
    samples = data.means[torch.randint(25, (5, 2000), generator=g)] + 0.02 * noise
    stacked = ref.score(samples)
    for s in range(5):
        alone = ref.score(samples[s:s + 1])
        for k, v in alone.items():
            assert torch.equal(stacked[k][s:s + 1], v), k


def test_grad_norms_of_a_wide_member_do_not_depend_on_its_stack():
    # 256×256 weights: past ATen's grain size, a reduction to one value is split over threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        nets = [mlp(2, 1, 256, 2) for _ in range(3)]
        stack, alone = StackedMLP(nets), StackedMLP(nets[1:2])
        x = torch.randn(3, 64, 2)
        stack(x).sum().backward()
        alone(x[1:2]).sum().backward()
        assert torch.equal(stack.grad_norms()[1:2], alone.grad_norms())
    finally:
        torch.set_num_threads(threads)
