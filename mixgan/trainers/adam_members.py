"""One member's slice of an Adam optimizer over stacked (S, ...) parameters, in torch's own format.

A member's optimizer state is written as the state_dict of an Adam over that member's plain MLP
(`{"state": {i: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}`), so a member's
checkpoint is exactly a run's checkpoint and resumes alone or in any stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.adam import adam

MOMENTS = ("exp_avg", "exp_avg_sq")


def member_adam_state(opt: torch.optim.Adam, stacked: Sequence[nn.Parameter], s: int) -> dict[str, Any]:
    """Member s's Adam state (copies) over the stacked parameters `stacked`, in Adam.state_dict() form."""
    state: dict[int, dict[str, Tensor]] = {}
    for i, p in enumerate(stacked):
        st = opt.state.get(p)
        if st:  # Adam fills its state at the first step
            state[i] = {"step": st["step"].clone(), **{k: st[k][s].clone() for k in MOMENTS}}
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    groups[0]["params"] = list(range(len(stacked)))
    return {"state": state, "param_groups": groups}


@torch.no_grad()
def load_member_adam(opt: torch.optim.Adam, stacked: Sequence[nn.Parameter], s: int,
                     member: dict[str, Any]) -> None:
    """Write a member's Adam state (as `member_adam_state` returns it) into slice s of `opt`'s state."""
    saved = member.get("state", {})
    if len(saved) not in (0, len(stacked)):
        raise ValueError(f"optimizer state for {len(saved)} parameters; expected {len(stacked)}")
    for i, p in enumerate(stacked):
        if i not in saved:
            continue
        st = opt.state[p]
        if not st:  # fresh optimizer: create the state Adam would create at its first step
            group = opt.param_groups[0]
            on_device = group.get("fused") or group.get("capturable")
            st["step"] = torch.zeros((), dtype=torch.float32, device=p.device if on_device else "cpu")
            for k in MOMENTS:
                st[k] = torch.zeros_like(p, memory_format=torch.preserve_format)
        for k in MOMENTS:
            if tuple(saved[i][k].shape) != tuple(p.shape[1:]):
                raise ValueError(f"optimizer {k} of parameter {i}: shape {tuple(saved[i][k].shape)}, "
                                 f"expected {tuple(p.shape[1:])}")
            st[k][s].copy_(saved[i][k])
        st["step"].copy_(torch.as_tensor(saved[i]["step"], dtype=torch.float32))


# The fused CPU Adam runs a vector body and a scalar tail that round differently; the tail is the last
# numel mod (vector width) elements of a tensor, so in a stacked (S, ...) parameter whose member slice
# is a multiple of 16 floats (a cache line, at least the widest vector) every element takes the vector
# body, alone or in any stack and on any thread count (tests/test_equivalence.py). Other parameters
# (odd biases) keep foreach Adam, which rounds the same in any position.
ALIGNED = 16


class _StateView:
    """`opt.state[p]` of whichever optimizer holds p (torch's defaultdict: a fresh entry is created)."""

    def __init__(self, owner: dict[int, torch.optim.Adam]) -> None:
        self.owner = owner

    def __getitem__(self, p: nn.Parameter) -> dict[str, Any]:
        return self.owner[id(p)].state[p]

    def get(self, p: nn.Parameter, default: Any = None) -> Any:
        opt = self.owner.get(id(p))
        return opt.state.get(p, default) if opt is not None else default


def _hooked(opt: torch.optim.Optimizer) -> bool:
    """Whether step hooks (the optimizer's own or global ones) would run around Adam.step()."""
    from torch.optim import optimizer as base

    # private names of torch.optim.optimizer (2.x); where one is missing, assume hooks (the safe side)
    hooks = [getattr(owner, f"_{kind}", None) for owner, kind in
             ((opt, "optimizer_step_pre_hooks"), (opt, "optimizer_step_post_hooks"),
              (base, "global_optimizer_pre_hooks"), (base, "global_optimizer_post_hooks"))]
    return any(h is None or len(h) > 0 for h in hooks)


class MemberAdam:
    """Adam over a stack's parameters: torch's fused kernel on the parameters whose member slices are
    vector-aligned (all of them on CUDA, with `capturable`), foreach on the others (CPU). Reads and
    writes like one torch Adam for member_adam_state / load_member_adam; each element gets torch's Adam
    update, exact per member (a member's numbers do not depend on S)."""

    def __init__(self, params: Any, lr: float, betas: tuple[float, float], device: torch.device) -> None:
        params = list(params)
        on_cuda = device.type == "cuda"
        fused = [p for p in params if on_cuda or p[0].numel() % ALIGNED == 0]
        fused_ids = {id(p) for p in fused}
        rest = [p for p in params if id(p) not in fused_ids]
        self.opts: list[torch.optim.Adam] = []
        if fused:
            self.opts.append(torch.optim.Adam(fused, lr=lr, betas=betas, fused=True, capturable=on_cuda))
        if rest:
            self.opts.append(torch.optim.Adam(rest, lr=lr, betas=betas, foreach=True))
        self.state = _StateView({id(p): opt for opt in self.opts for p in opt.param_groups[0]["params"]})
        self.params = [p for opt in self.opts for p in opt.param_groups[0]["params"]]

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.opts[0].param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Optimizer.zero_grad's effect without its per-call Python (a profiler record, foreach
        grouping: 3 % of the toy iteration's op time); zeroing in place where `set_to_none` is False."""
        if not set_to_none:
            for opt in self.opts:
                opt.zero_grad(set_to_none=False)
            return
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Each optimizer's update through torch's functional `adam()` on its own state: the kernels
        and arguments of `Adam.step()`, hence its bits, without its per-call Python (hooks, profiler
        record, `_init_group`: 11 % of the toy iteration's op time, BENCHMARKS.md). Adam.step()
        itself runs where the functional call would not equal it: before the state exists (its first
        step creates it), when a parameter has no gradient (Adam skips it) and when step hooks are
        registered (they run around Adam.step())."""
        for opt in self.opts:
            group = opt.param_groups[0]
            params = group["params"]
            states = [opt.state.get(p) for p in params]
            if not all(states) or any(p.grad is None for p in params) or _hooked(opt):
                opt.step()
                continue
            beta1, beta2 = group["betas"]
            with torch.no_grad():
                adam(params, [p.grad for p in params], [st["exp_avg"] for st in states],
                     [st["exp_avg_sq"] for st in states], [], [st["step"] for st in states],
                     foreach=group["foreach"], capturable=group["capturable"],
                     differentiable=group["differentiable"], fused=group["fused"], has_complex=False,
                     decoupled_weight_decay=group["decoupled_weight_decay"], amsgrad=group["amsgrad"],
                     beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                     eps=group["eps"], maximize=group["maximize"])
