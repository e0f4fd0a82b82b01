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

NOISE_DRAW = 3  # the reference images are draw 1, the held-out ones draw 2 (data/gan_images.py)
# short name (the summary's and the console's) → what compare's row says
NAMES = {"data": "held-out real images", "noise": "uniform noise images", "one image": "one repeated image"}


def reference_images(real: Tensor) -> dict[str, Tensor]:
    """Short name → uint8 images shaped like the held-out real ones (data/gan_images.held_out_images):
    held-out real, uniform noise, one image repeated."""
    noise = torch.randint(0, 256, real.shape, dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(NOISE_DRAW))
    return {"data": real, "noise": noise, "one image": real[:1].expand_as(real).contiguous()}


def reference_scores(evaluator: Any, real: Tensor) -> dict[str, dict[str, float]]:
    """Short name → the run's quality/* and fidelity/* tags → value, scored by `evaluator.evaluate`, for
    held-out real images `real` and the noise and one-image references shaped like them."""
    return {name: evaluator.evaluate(images) for name, images in reference_images(real).items()}


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
