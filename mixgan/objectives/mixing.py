"""What the mixup family for D shares (docs/mixup_family.md): CutMix's box masks, partners within one
batch, and D seen as head ∘ features. Everything works over the member axis (S, n, ...), each member's
draws from its own stream (mixgan/streams.py), so a member draws what it would draw alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from mixgan.errors import SettingError
from mixgan.streams import MemberStreams


def box_masks(rand: MemberStreams, n: int, H: int, W: int, invert: bool = False) -> tuple[Tensor, Tensor]:
    """CutMix's masks M (S, n, 1, H, W), 1 outside a box and 0 inside, and λ (S, n) = the share of 1s.

    Yun et al. 2019 (clovaai/CutMix-PyTorch `rand_bbox`): λ₀ ~ Beta(1, 1) (drawn as U(0, 1), the same
    law); box sides int(H·√(1 − λ₀)) and int(W·√(1 − λ₀)); centre uniform over the pixels; the box is
    [c − side//2, c + side//2) clipped to the image, and λ is recomputed from the clipped area,
    λ = 1 − area/(H·W). `invert` (U-Net GAN's CutMix, boschresearch/unetgan `mixup.py`): with
    probability ½ M ← 1 − M and λ ← 1 − λ. The box arithmetic runs in float64, as Python's would.
    """
    u = rand.uniform(n, 3).double()  # λ₀, the centre's row and column, per image
    r = (1 - u[..., 0]).sqrt()
    h, w = (H * r).floor().long(), (W * r).floor().long()  # int(H·√(1 − λ₀))
    cy, cx = (u[..., 1] * H).floor().long(), (u[..., 2] * W).floor().long()  # a pixel, uniformly
    y1, y2 = (cy - h // 2).clamp(0, H), (cy + h // 2).clamp(0, H)
    x1, x2 = (cx - w // 2).clamp(0, W), (cx + w // 2).clamp(0, W)
    lam = (1 - ((y2 - y1) * (x2 - x1)).double() / (H * W)).float()
    rows, cols = torch.arange(H, device=u.device), torch.arange(W, device=u.device)
    in_rows = (rows >= y1.unsqueeze(-1)) & (rows < y2.unsqueeze(-1))  # (S, n, H)
    in_cols = (cols >= x1.unsqueeze(-1)) & (cols < x2.unsqueeze(-1))  # (S, n, W)
    mask = (~(in_rows.unsqueeze(-1) & in_cols.unsqueeze(-2))).float()  # (S, n, H, W)
    if invert:
        flip = rand.uniform(n) < 0.5
        mask = torch.where(flip[..., None, None], 1 - mask, mask)
        lam = torch.where(flip, 1 - lam, lam)
    return mask.unsqueeze(2), lam


def box_mix(a: Tensor, b: Tensor, mask: Tensor) -> Tensor:
    """M⊙a + (1 − M)⊙b for images (S, n, C, H, W) and masks (S, n, 1, H, W)."""
    return mask * a + (1 - mask) * b


def images_only(x: Tensor, key: str) -> None:
    """Refuse a box mask on anything but images (S, n, C, H, W): on 2-D points a box means nothing."""
    if x.dim() != 5:
        raise SettingError(f"{key}: a CutMix box needs images (S, n, C, H, W), got shape {tuple(x.shape)}; "
                           "accepted: images (on 2-D points a box means nothing)")


def split_critic(D: Any, key: str) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """D's `features` and `head` (D = head ∘ features), or a one-line refusal naming what is accepted."""
    features, head = getattr(D, "features", None), getattr(D, "head", None)
    if not (callable(features) and callable(head)):
        raise SettingError(f"{key}: D has no features(x) and head(h); accepted: mixgan's toy and DCGAN Ds, "
                           "or your D as mixgan.SplitD(features=..., head=...)")
    return features, head
