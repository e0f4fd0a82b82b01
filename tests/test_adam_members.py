"""MemberAdam.step (torch's functional adam() on the optimizers' own state) against torch's Adam.step."""

import torch
from torch import nn
from torch.optim.adam import adam

from mixgan.trainers.adam_members import MemberAdam


def params(seed: int) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    # an aligned (fused) and an unaligned (foreach) stacked parameter, as in a stack of 3 members
    return [nn.Parameter(torch.randn(3, 16, 8, generator=g)), nn.Parameter(torch.randn(3, 5, generator=g))]


def grads(t: int, ps: list[nn.Parameter]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100 + t)
    return [torch.randn(p.shape, generator=g) for p in ps]


def test_member_adam_steps_equal_torch_adam_step_bit_for_bit(monkeypatch):
    import mixgan.trainers.adam_members as mod

    calls = []
    monkeypatch.setattr(mod, "adam", lambda *a, **k: (calls.append(k["fused"]), adam(*a, **k)))
    ours, ref = params(0), params(0)
    opt = MemberAdam(ours, lr=1e-3, betas=(0.8, 0.999), device=torch.device("cpu"))
    ref_opts = [torch.optim.Adam([ref[0]], lr=1e-3, betas=(0.8, 0.999), fused=True),
                torch.optim.Adam([ref[1]], lr=1e-3, betas=(0.8, 0.999), foreach=True)]
    for t in range(6):  # the first step creates the state (Adam.step), the others take adam() directly
        for ps in (ours, ref):
            for p, g in zip(ps, grads(t, ps)):
                p.grad = g.clone()
        opt.step()
        for o in ref_opts:
            o.step()
        for a, b, o in zip(ours, ref, ref_opts):
            assert torch.equal(a, b), f"step {t}"
            for k in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(opt.state[a][k], o.state[b][k]), f"step {t}: {k}"
    assert calls == [True, None] * 5  # steps 2-6 took the functional path, fused and foreach


def test_a_parameter_without_gradient_is_skipped_as_adam_skips_it():
    ours, ref = params(1), params(1)
    opt = MemberAdam(ours, lr=1e-2, betas=(0.5, 0.9), device=torch.device("cpu"))
    ref_opt = torch.optim.Adam([ref[1]], lr=1e-2, betas=(0.5, 0.9), foreach=True)
    for t in range(3):
        ours[1].grad, ref[1].grad = (g.clone() for g in grads(t, ours)[1:] * 2)
        ours[0].grad = grads(t, ours)[0] if t == 0 else None  # the aligned one gets a gradient once
        opt.step()
        ref_opt.step()
        assert torch.equal(ours[1], ref[1])
        assert torch.equal(opt.state[ours[1]]["step"], ref_opt.state[ref[1]]["step"])
    assert float(opt.state[ours[0]]["step"]) == 1.0  # one update, then skipped


def test_step_hooks_still_run():
    ours = params(2)
    opt = MemberAdam(ours, lr=1e-3, betas=(0.9, 0.999), device=torch.device("cpu"))
    seen = []
    opt.opts[0].register_step_post_hook(lambda o, a, k: seen.append(o))
    for t in range(3):
        for p, g in zip(ours, grads(t, ours)):
            p.grad = g
        opt.step()
    assert seen == [opt.opts[0]] * 3


def test_zero_grad_clears_every_parameter_or_zeroes_in_place():
    ours = params(3)
    opt = MemberAdam(ours, lr=1e-3, betas=(0.9, 0.999), device=torch.device("cpu"))
    for p, g in zip(ours, grads(0, ours)):
        p.grad = g
    kept = [p.grad for p in ours]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is k and not p.grad.any() for p, k in zip(ours, kept))
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
