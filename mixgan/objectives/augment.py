"""The image augmentation T of balanced consistency regularization (Zhao et al. 2021, "Improved
Consistency Regularization for GANs", their default T): a random horizontal flip and an integer
translation of up to p pixels with reflection padding, per image, over a member axis (S, n, C, H, W).

`flip_translate` is the pure map for given draws; `augment` draws them from the members' streams.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mixgan.streams import MemberStreams


def flip_translate(x: Tensor, flip: Tensor, dx: Tensor, dy: Tensor, p: int) -> Tensor:
    """Images (S, n, C, H, W) flipped along W where `flip` (S, n) is true, then moved by dx pixels
    right and dy down (integers in [−p, p], (S, n)): out[i, j] = x'[i − dy, j − dx], x' the flipped
    image reflected at its borders. One gather for all images (no loop over them)."""
    S, n, C, H, W = x.shape
    flat = x.reshape(S * n, C, H, W)
    padded = F.pad(flat, (p, p, p, p), mode="reflect") if p > 0 else flat
    # Rows and columns of the padded image that land at out[i, j]. Reflection padding is symmetric,
    # so flipping the padded image (column c → W + 2p − 1 − c) flips the image and its padding alike.
    rows = torch.arange(H, device=x.device) + p - dy.reshape(-1, 1)  # (S·n, H)
    cols = torch.arange(W, device=x.device) + p - dx.reshape(-1, 1)  # (S·n, W)
    cols = torch.where(flip.reshape(-1, 1), W + 2 * p - 1 - cols, cols)
    image = torch.arange(S * n, device=x.device)
    out = padded[image[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (S·n, H, W, C)
    return out.permute(0, 3, 1, 2).reshape(x.shape)


def draw_flip_translate(rand: MemberStreams, n: int, p: int) -> tuple[Tensor, Tensor, Tensor]:
    """Each member's draws for n images: flip with probability ½, dx and dy uniform in {−p, …, p}."""
    flip = rand.uniform(n) < 0.5
    shift = rand.randint(2 * p + 1, 2, n) - p
    return flip, shift[:, 0], shift[:, 1]


def augment(x: Tensor, rand: MemberStreams, p: int) -> Tensor:
    """T(x): a random flip and translation of up to p pixels of every image (S, n, C, H, W)."""
    return flip_translate(x, *draw_flip_translate(rand, x.shape[1], p), p)
