"""S MLPs of the same shape (models/mlp.py) as stacked (S, out, in) weights: one batched matmul per layer.

The toy GAN trains a stack of S members at once with these (trainers/gan.py); S = 1 is an
ordinary run through the same kernels, so that on the CPU a member's numbers do not depend on S.
A member's weights are read and written in nn.Sequential's own state-dict layout
(`member_state_dict`), so its checkpoint is that of a plain MLP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# The GEMMs of one layer, each for (S, ...) stacks: forward y = b + x·Wᵀ, and the backward that
# F.linear's autograd computes per member, in the same layouts (∂W comes out as (S, out, in) directly:
# autograd's own bmm backward would make it the transpose of an (S, in, out) product and copy it).
def _forward(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    if b is None:  # a layer without bias (PacGAN's G): y = x·Wᵀ
        return x.bmm(W.transpose(1, 2))
    return torch.baddbmm(b.unsqueeze(1), x, W.transpose(1, 2))


def _grad_x(grad: Tensor, W: Tensor) -> Tensor:
    return grad.bmm(W)  # ∂x = ∂y·W


def _grad_W(grad: Tensor, x: Tensor) -> Tensor:
    return grad.transpose(1, 2).bmm(x)  # ∂W = ∂yᵀ·x


_GEMMS = (_forward, _grad_x, _grad_W)
_INVARIANT: dict[tuple, bool] = {}  # (S, n, in, out, dtype, threads) -> batched GEMMs batch-invariant?


def _per_member(gemm: Callable[..., Tensor], *args: Tensor | None) -> Tensor:
    """`gemm` for each member alone (batch 1), concatenated: a member's numbers cannot depend on S."""
    return torch.cat([gemm(*(None if a is None else a[s:s + 1] for a in args))
                      for s in range(args[0].shape[0])])


def batch_invariant(S: int, n: int, n_in: int, n_out: int, dtype: torch.dtype = torch.float32) -> bool:
    """Whether this CPU's batched GEMMs (baddbmm, bmm) give each of S members, bit for bit, what they
    give the member alone (batch 1), for a layer of these sizes at the current thread count.

    BLAS libraries may pick another kernel or thread split for a batch of S than for one matrix (MKL
    does on some AVX-512 CPUs), and a GAN amplifies the last-bit difference into another run. Checked
    once per shape on random inputs (any other kernel or summation order changes some of the n·out
    sums); where it fails, stacked_linear runs the members one by one (docs/design.md, "Randomness").
    """
    key = (S, n, n_in, n_out, dtype, torch.get_num_threads())
    if key not in _INVARIANT:
        g = torch.Generator().manual_seed(0)
        x, grad, W, b = (torch.randn(*shape, generator=g, dtype=dtype)
                         for shape in ((S, n, n_in), (S, n, n_out), (S, n_out, n_in), (S, n_out)))
        calls = ((_forward, (x, W, b)), (_grad_x, (grad, W)), (_grad_W, (grad, x)))
        _INVARIANT[key] = all(torch.equal(gemm(*args), _per_member(gemm, *args)) for gemm, args in calls)
    return _INVARIANT[key]


class _StackedLinear(torch.autograd.Function):
    """y = b + x·Wᵀ for S members at once; on the CPU each member's GEMMs are those it runs alone."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, W)
        # CUDA: always batched (bmm and mm are other kernels there anyway; equal to float tolerance).
        ctx.batched = x.is_cuda or batch_invariant(x.shape[0], x.shape[1], x.shape[2], W.shape[1], x.dtype)
        return _forward(x, W, b) if ctx.batched else _per_member(_forward, x, W, b)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, W = ctx.saved_tensors
        need_x, need_W, need_b = ctx.needs_input_grad

        def run(gemm: Callable[..., Tensor], *args: Tensor) -> Tensor:
            return gemm(*args) if ctx.batched else _per_member(gemm, *args)

        return (run(_grad_x, grad, W) if need_x else None, run(_grad_W, grad, x) if need_W else None,
                grad.sum(1) if need_b else None)  # ∂b = Σ_n ∂y


def stacked_linear(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    """x (S, N, in) @ W (S, out, in)ᵀ + b (S, out) → (S, N, out).

    On the CPU a member computes bit for bit what it computes alone (S = 1 runs the same batched
    kernels at batch 1; see `batch_invariant`). On CUDA, S = 1 runs F.linear, and a member equals its
    run alone to float tolerance.
    """
    if W.shape[0] == 1 and x.is_cuda:
        return F.linear(x[0], W[0], None if b is None else b[0]).unsqueeze(0)
    return _StackedLinear.apply(x, W, b)


class MemberParams:
    """What the trainers read of a stacked network: each member's gradient norm and its weights as
    its own plain network's state_dict. Subclasses give `stacked()` (the (S, ...) parameters in the
    plain network's parameters() order), `keys` (their state_dict names) and `members`."""

    keys: list[str]

    def stacked(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def grad_norms(self) -> Tensor:
        """Each member's L2 norm of all its parameter gradients (S,), as metrics.stability.grad_norm.

        Member by member, not one reduction over dim 1: ATen splits a reduction to one value over the
        threads but reduces several values one per thread, so a member's sum would be ordered (and
        rounded) differently alone (S = 1) than in a stack."""
        params = self.stacked()
        return torch.stack([torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad[s])
                                                                  for p in params]))
                            for s in range(self.members)])

    def _state_tensors(self) -> list[Tensor]:
        """The (S, ...) tensors of a member's state_dict, in `_state_keys` order (buffers too, if any)."""
        return list(self.stacked())

    def _state_keys(self) -> list[str]:
        """A member's state_dict names: its parameters' (`keys`), and its buffers' where it has some."""
        return list(self.keys)

    def member_state_dict(self, s: int) -> dict[str, Tensor]:
        """Member s's weights as its own nn.Sequential's state_dict (copies, not views)."""
        return {k: p.detach()[s].clone() for k, p in zip(self._state_keys(), self._state_tensors())}

    @torch.no_grad()
    def load_member_state_dict(self, s: int, state: dict[str, Tensor]) -> None:
        """Set member s's weights from an nn.Sequential state_dict of the same shape."""
        keys = self._state_keys()
        if set(state) != set(keys):
            raise KeyError(f"member weights have keys {sorted(state)}; expected {keys}")
        for k, p in zip(keys, self._state_tensors()):
            if tuple(state[k].shape) != tuple(p.shape[1:]):
                raise ValueError(f"{k}: shape {tuple(state[k].shape)}, expected {tuple(p.shape[1:])}")
            p[s].copy_(state[k])


class StackedMLP(MemberParams, nn.Module):
    """S MLPs of models/mlp.py ([Linear, ReLU] × depth, Linear) as (S, out, in) weights.

    With `spectral_norm`, every layer uses W/σ(W) (Miyato et al. 2018), σ = uᵀWv estimated per member
    as `torch.nn.utils.parametrizations.spectral_norm` does for one matrix: random u, v warmed up by
    15 power iterations when built, then one per training forward pass, u ← Wv/‖Wv‖ before
    v ← Wᵀu/‖Wᵀu‖ (the older `torch.nn.utils.spectral_norm` updates in the same order). The start
    vectors come from a fixed generator per layer, not from torch's global stream.
    """

    WARMUP = 15  # power iterations at construction, as torch's parametrization does

    def __init__(self, nets: list[nn.Sequential], spectral_norm: bool = False) -> None:
        super().__init__()
        self.spectral_norm = spectral_norm
        kinds = [type(m) for m in nets[0]]
        if kinds != [nn.Linear, nn.ReLU] * (len(kinds) // 2) + [nn.Linear]:
            raise ValueError(f"StackedMLP expects [Linear, ReLU] * depth + [Linear], got {kinds}")
        self.weight, self.bias = nn.ParameterList(), nn.ParameterList()
        for layer in zip(*[[m for m in net if isinstance(m, nn.Linear)] for net in nets]):
            self.weight.append(nn.Parameter(torch.stack([lin.weight.detach() for lin in layer])))
            self.bias.append(nn.Parameter(torch.stack([lin.bias.detach() for lin in layer])))
        # nn.Sequential's keys of each stacked parameter: "0.weight", "0.bias", "2.weight", ...
        linear_at = [i for i, m in enumerate(nets[0]) if isinstance(m, nn.Linear)]
        self.keys = [f"{i}.{kind}" for i in linear_at for kind in ("weight", "bias")]
        self.sn_keys = [f"{i}.{vec}" for i in linear_at for vec in ("u", "v")]
        if spectral_norm:  # the same start vectors for every member: a member's own do not depend on S
            for i, W in enumerate(self.weight):
                g = torch.Generator().manual_seed(i)
                u, v = torch.randn(W.shape[1], generator=g), torch.randn(W.shape[2], generator=g)
                self.register_buffer(f"sn_u{i}", F.normalize(u, dim=0).expand(len(nets), -1).clone())
                self.register_buffer(f"sn_v{i}", F.normalize(v, dim=0).expand(len(nets), -1).clone())
                self._power_iteration(i, self.WARMUP)

    @property
    def members(self) -> int:
        return self.weight[0].shape[0]

    def stacked(self) -> list[nn.Parameter]:
        """The stacked parameters in nn.Sequential.parameters() order (W0, b0, W1, b1, ...)."""
        return [p for pair in zip(self.weight, self.bias) for p in pair]

    @torch.no_grad()
    def _power_iteration(self, i: int, steps: int) -> None:
        """`steps` power iterations on layer i's u, v per member, in place (CUDA-graph-safe).

        Products as elementwise products and sums, not einsum/bmm: a member's σ then comes out bit for
        bit the same alone and in a stack (a batched GEMM may change kernels with S, see stacked_linear).
        """
        W, u, v = self.weight[i], getattr(self, f"sn_u{i}"), getattr(self, f"sn_v{i}")
        for _ in range(steps):
            u.copy_(F.normalize((W * v.unsqueeze(1)).sum(2), dim=1, eps=1e-12))  # u ← Wv/‖Wv‖
            v.copy_(F.normalize((W * u.unsqueeze(2)).sum(1), dim=1, eps=1e-12))  # v ← Wᵀu/‖Wᵀu‖

    def _normalized(self, i: int, update: bool) -> Tensor:
        """Layer i's weights divided by each member's σ (S, out, in); one power iteration if `update`."""
        if update:
            self._power_iteration(i, 1)
        W, u, v = self.weight[i], getattr(self, f"sn_u{i}"), getattr(self, f"sn_v{i}")
        # σ = uᵀWv, differentiable in W with u, v fixed; clones, because a later forward pass updates
        # u, v in place while this pass's graph still needs them (as torch's spectral_norm does)
        sigma = (u.clone() * (W * v.clone().unsqueeze(1)).sum(2)).sum(1)
        return W / sigma.view(-1, 1, 1)

    def _layers(self, x: Tensor, lo: int, hi: int) -> Tensor:
        """Layers lo..hi−1 (each Linear, then ReLU but after the last)."""
        last = len(self.weight) - 1
        for i in range(lo, hi):
            W, b = self.weight[i], self.bias[i]
            if self.spectral_norm:
                W = self._normalized(i, update=self.training)
            x = stacked_linear(x, W, b)
            if i < last:
                x = torch.relu(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self._layers(x, 0, len(self.weight))

    # D = head ∘ features (AdaptiveMix mixes in feature space: objectives/adaptivemix.py)
    def features(self, x: Tensor) -> Tensor:
        """Every layer but the last, (S, n, in) → (S, n, hidden): the input of the last Linear."""
        return self._layers(x, 0, len(self.weight) - 1)

    def head(self, h: Tensor) -> Tensor:
        """The last Linear, (S, n, hidden) → (S, n, out)."""
        return self._layers(h, len(self.weight) - 1, len(self.weight))

    def member(self, s: int) -> Callable[[Tensor], Tensor]:
        """Member s alone as a function of (n, in) inputs (for measurements and pictures)."""
        def net(x: Tensor) -> Tensor:
            last = len(self.weight) - 1
            for i, (W, b) in enumerate(zip(self.weight, self.bias)):
                if self.spectral_norm:
                    W = self._normalized(i, update=False)
                x = F.linear(x, W[s], b[s])
                if i < last:
                    x = torch.relu(x)
            return x

        return net

    def _sn_vectors(self) -> list[Tensor]:
        return [getattr(self, f"sn_{vec}{i}") for i in range(len(self.weight)) for vec in ("u", "v")]

    def member_sn_state(self, s: int) -> dict[str, Tensor]:
        """Member s's spectral-norm power-iteration vectors (u, v per layer), for exact resume."""
        return {k: t[s].clone() for k, t in zip(self.sn_keys, self._sn_vectors())}

    @torch.no_grad()
    def load_member_sn_state(self, s: int, state: dict[str, Tensor]) -> None:
        if set(state) != set(self.sn_keys):
            raise KeyError(f"spectral-norm state has keys {sorted(state)}; expected {self.sn_keys}")
        for k, t in zip(self.sn_keys, self._sn_vectors()):
            t[s].copy_(state[k])
