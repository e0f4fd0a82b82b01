"""The stability metrics (metrics/stability.py, StackedMLP.grad_norms) against values known by hand: a
linear D's ‖∂D/∂x‖ = ‖w‖ everywhere, a quadratic D's input gradient Ax + b at every point, parameter
gradient norms against torch's total norm and a float64 sum; for one network and for a stack."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mixgan.metrics.stability import grad_norm, input_grad_norm, probe_discriminator, probe_keys
from mixgan.mixup import mix
from mixgan.models.mlp import mlp
from mixgan.models.stacked_mlp import StackedMLP


def total_norm(grads: list[Tensor]) -> float:
    """‖(g₁, …, g_k)‖₂: torch's get_total_norm where this torch has it, else a float64 sum."""
    if hasattr(nn.utils, "get_total_norm"):
        return nn.utils.get_total_norm(grads, norm_type=2.0).item()
    return sum(g.double().pow(2).sum() for g in grads).sqrt().item()


def norm64(grads: list[Tensor]) -> float:
    return sum(g.double().pow(2).sum() for g in grads).sqrt().item()


def nets(S: int, depth: int = 2, seed: int = 0) -> list[nn.Sequential]:
    torch.manual_seed(seed)
    return [mlp(2, 1, 8, depth) for _ in range(S)]


def points(n: int = 16, seed: int = 1) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g), 3 * torch.randn(n, 2, generator=g)


class Quadratic(nn.Module):
    """D(x) = ½xᵀAx + bᵀx + c, A symmetric: ∇ₓD = Ax + b."""

    def __init__(self) -> None:
        super().__init__()
        self.A = torch.tensor([[2.0, 0.5], [0.5, -1.0]])
        self.b = torch.tensor([0.3, -0.7])

    def forward(self, x: Tensor) -> Tensor:
        return (0.5 * (x @ self.A * x).sum(-1) + x @ self.b + 0.1).unsqueeze(-1)

    def grad(self, x: Tensor) -> Tensor:
        return x @ self.A + self.b


# -- grad_norm: the parameters' gradient norm -------------------------------------------------

def test_grad_norm_equals_the_total_norm_of_all_parameter_gradients():
    net = nets(1)[0]
    x, _ = points()
    net(x).pow(2).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert grad_norm(net).item() == pytest.approx(total_norm(grads), rel=1e-6)
    assert grad_norm(net).item() == pytest.approx(norm64(grads), rel=1e-6)
    assert grad_norm(net).dim() == 0


def test_grad_norm_skips_parameters_without_gradients_and_is_zero_with_none():
    net = nets(1)[0]
    assert grad_norm(net).item() == 0.0  # no backward yet
    net[0].requires_grad_(False)  # the first layer gets no gradient
    x, _ = points()
    net(x).sum().backward()
    assert net[0].weight.grad is None
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grad_norm(net).item() == pytest.approx(norm64(grads), rel=1e-6)


def test_grad_norm_of_a_linear_critics_loss_is_known_by_hand():
    # loss = mean_i (w·x_i + b): ∂/∂w = mean_i x_i, ∂/∂b = 1, so the norm is √(‖x̄‖² + 1).
    lin = nn.Linear(2, 1)
    x, _ = points()
    lin(x).mean().backward()
    assert grad_norm(lin).item() == pytest.approx((x.mean(0).pow(2).sum() + 1).sqrt().item(), rel=1e-6)


@pytest.mark.parametrize("S", [1, 3])
def test_stack_grad_norms_are_each_members_norm_alone(S):
    # A stack's backward of Σ_s loss_s gives member s the gradient of its own loss; grad_norms (S,) is
    # the norm each member's network has alone, and grad_norm of the stack the norm over all members.
    alone = nets(S)
    stack = StackedMLP(alone)
    x = torch.randn(S, 16, 2, generator=torch.Generator().manual_seed(2))
    stack(x).pow(2).mean((1, 2)).sum().backward()
    got = stack.grad_norms()
    assert got.shape == (S,)
    for s, net in enumerate(alone):
        net(x[s]).pow(2).mean().backward()
        grads = [p.grad for p in net.parameters()]
        assert got[s].item() == pytest.approx(total_norm(grads), rel=1e-5)
        assert got[s].item() == pytest.approx(grad_norm(net).item(), rel=1e-5)
        assert got[s].item() == pytest.approx(norm64([p.grad[s] for p in stack.stacked()]), rel=1e-6)
    assert grad_norm(stack).item() == pytest.approx(got.pow(2).sum().sqrt().item(), rel=1e-6)


# -- input_grad_norm: ‖∂D/∂x‖ averaged over the batch ------------------------------------------

def test_a_linear_critic_has_input_gradient_norm_w_everywhere():
    lin = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, -4.0]]))
    for x in points():
        assert input_grad_norm(lin, x).item() == pytest.approx(5.0, rel=1e-6)


def test_image_shaped_inputs_are_flattened_per_sample():
    # D(x) = w·vec(x) on (n, 1, 2, 2) images: ‖∂D/∂x‖ = ‖w‖ for every image.
    w = torch.tensor([1.0, 2.0, -2.0, 4.0])
    D = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        D[1].weight.copy_(w[None])
    x = torch.randn(5, 1, 2, 2)
    assert input_grad_norm(D, x).item() == pytest.approx(5.0, rel=1e-6)


def test_a_quadratic_critics_input_gradient_is_ax_plus_b_at_every_point():
    D = Quadratic()
    for x in points():
        want = D.grad(x).norm(dim=1).mean().item()
        assert input_grad_norm(D, x).item() == pytest.approx(want, rel=1e-6)


# -- probe_discriminator: D's outputs and input gradients at real, fake and mixed points ---------

def test_probe_of_a_linear_critic():
    lin = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.6, 0.8]]))
        lin.bias.fill_(-0.2)
    real, fake = points()
    got = probe_discriminator(lin, real, fake, torch.Generator().manual_seed(0))
    assert list(got) == list(probe_keys(True))
    d = lambda x: x @ torch.tensor([0.6, 0.8]) - 0.2  # noqa: E731
    assert got["stability/D_real"].item() == pytest.approx(torch.sigmoid(d(real)).mean().item(), rel=1e-6)
    assert got["stability/D_fake"].item() == pytest.approx(torch.sigmoid(d(fake)).mean().item(), rel=1e-6)
    for where in ("real", "fake", "mixed"):  # ‖w‖ = 1 wherever the points are
        assert got[f"stability/grad_input_{where}"].item() == pytest.approx(1.0, rel=1e-6)
    critic = probe_discriminator(lin, real, fake, torch.Generator().manual_seed(0), probability=False)
    assert list(critic) == list(probe_keys(False))
    assert critic["stability/critic_real"].item() == pytest.approx(d(real).mean().item(), rel=1e-6)
    assert critic["stability/critic_fake"].item() == pytest.approx(d(fake).mean().item(), rel=1e-5)


def test_probe_of_a_quadratic_critic_at_real_fake_and_mixed_points():
    # Mixed points are λx + (1 − λ)g(z), λ ~ U(0, 1) per sample: the generator's first n uniforms.
    D = Quadratic()
    real, fake = points()
    got = probe_discriminator(D, real, fake, torch.Generator().manual_seed(4))
    lam = torch.rand(len(real), generator=torch.Generator().manual_seed(4))
    mixed = lam[:, None] * real + (1 - lam[:, None]) * fake
    torch.testing.assert_close(mixed, mix(real, fake, lam))
    for where, x in (("real", real), ("fake", fake), ("mixed", mixed)):
        want = D.grad(x).norm(dim=1).mean().item()
        assert got[f"stability/grad_input_{where}"].item() == pytest.approx(want, rel=1e-6), where
    assert got["stability/D_real"].item() == pytest.approx(torch.sigmoid(D(real)).mean().item(), rel=1e-6)


def test_probe_of_each_member_of_a_stack():
    # Depth 0: member s is the linear map w_s·x + b_s, so every input-gradient probe is ‖w_s‖; deeper
    # members are probed as the same network alone is (the toy trainer probes member(s)).
    S = 3
    linear = nets(S, depth=0, seed=3)
    deep = nets(S, depth=2, seed=4)
    stacks = StackedMLP(linear), StackedMLP(deep)
    real, fake = points()
    for s in range(S):
        got = probe_discriminator(stacks[0].member(s), real, fake, torch.Generator().manual_seed(s))
        w = linear[s][0].weight.norm().item()
        for where in ("real", "fake", "mixed"):
            assert got[f"stability/grad_input_{where}"].item() == pytest.approx(w, rel=1e-6)
        got = probe_discriminator(stacks[1].member(s), real, fake, torch.Generator().manual_seed(s))
        want = probe_discriminator(deep[s], real, fake, torch.Generator().manual_seed(s))
        for k in want:
            assert got[k].item() == pytest.approx(want[k].item(), rel=1e-5, abs=1e-7), k


def test_the_probe_never_consumes_a_training_generator_by_default():
    # The docs' loop calls probe_discriminator between training steps: with its own draws, the
    # training stream is where it was (issue 33: passing the training generator shifted the run).
    from mixgan.metrics.stability import probe_discriminator

    D = torch.nn.Linear(2, 1)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gen = torch.Generator().manual_seed(3)
    before = gen.get_state()
    a = probe_discriminator(D, real, fake)
    assert torch.equal(gen.get_state(), before)
    b = probe_discriminator(D, real, fake, torch.Generator().manual_seed(0))  # the default's draws
    assert all(torch.equal(a[k], b[k]) for k in a)
