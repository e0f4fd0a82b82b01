"""The image GAN's reference rows (docs/design.md, habit 11; issue 33, item 8): what held-out real images,
uniform noise images and one repeated image score on the run's own features, against the run's own
reference images, at the run's sample size (metrics.n_samples), so that "precision 0.44" reads next to
what noise (≈ 0.36 on digit features) and the data score.

They are measured by the run's own ImageEvaluator (trainers/image_eval.py: the same extractors, the
same cached reference features, the same digit classifier for modes), once at the end of a run, and
depend only on the data, the sample size and the extractors, never on the run's seed or training.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

HELD_OUT_DRAW, NOISE_DRAW = 2, 3  # the reference images are draw 1 (data/gan_images.REFERENCE_DRAW)
# short name (the summary's and the console's) → what compare's row says
NAMES = {"data": "held-out real images", "noise": "uniform noise images", "one image": "one repeated image"}


def held_out_images(data: Any, train: Tensor, n: int) -> Tensor:
    """n real images that are not the reference images.

    Stacked digits: another independent draw of the data distribution. Otherwise the training images
    after the reference ones in the same fixed permutation (data/gan_images.reference_images), drawn
    with replacement from them when fewer than n are left (from the whole set when none is left)."""
    from mixgan.data.gan_images import REFERENCE_DRAW, resize_u8

    if data.name == "stacked_digits":
        from mixgan.data.images import digits_u8, stacked_digits

        return resize_u8(stacked_digits(n, HELD_OUT_DRAW, *digits_u8())[0], data.image_size)
    train = train.cpu()
    perm = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(REFERENCE_DRAW))
    rest = perm[min(n, train.shape[0]):]
    if rest.numel() >= n:
        return train[rest[:n]]
    pool = rest if rest.numel() else perm
    pick = torch.randint(pool.numel(), (n,), generator=torch.Generator().manual_seed(HELD_OUT_DRAW))
    return train[pool[pick]]


def reference_images(data: Any, train: Tensor, n: int) -> dict[str, Tensor]:
    """Short name → n uint8 images shaped like the data: held-out real, uniform noise, one image n times."""
    real = held_out_images(data, train, n)
    noise = torch.randint(0, 256, real.shape, dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(NOISE_DRAW))
    return {"data": real, "noise": noise, "one image": real[:1].expand_as(real).contiguous()}


def reference_scores(evaluator: Any, data: Any, train: Tensor, n: int) -> dict[str, dict[str, float]]:
    """Short name → the run's quality/* and fidelity/* tags → value, scored by `evaluator.evaluate`."""
    return {name: evaluator.evaluate(images) for name, images in reference_images(data, train, n).items()}


def markdown(references: dict[str, dict[str, float]], final: dict[str, float]) -> str:
    """A table for TensorBoard's Text tab: each tag the references have, G's value beside theirs."""
    names = list(references)
    tags = [t for t in final if any(t in references[r] for r in names)]
    head = "| metric | G | " + " | ".join(NAMES.get(r, r) for r in names) + " |"
    lines = [head, "|---" * (len(names) + 2) + "|"]
    for t in tags:
        refs = " | ".join(f"{references[r][t]:.4g}" if t in references[r] else "—" for r in names)
        lines.append(f"| {t} | {final[t]:.4g} | {refs} |")
    return "\n".join(lines)
