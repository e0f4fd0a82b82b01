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
