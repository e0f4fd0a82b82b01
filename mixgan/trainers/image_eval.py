"""Image quality of a generator for the image-GAN trainer: torch-fidelity metrics with every configured
feature extractor and, on digit data, modes and reverse KL (VEEGAN / PacGAN protocol, metrics/stacked.py);
and the TensorBoard layout of these metrics.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mixgan.config.image_gan import EMBEDDED_IMAGES, resolved_extractors

_G_EMA = r"(_ema)?"
DASHBOARD = {  # TensorBoard custom scalars (mixgan/rundir/dashboard.py): G and its EMA on the same chart
    "Stability": {
        "losses": [r"^loss/D$", r"^loss/G$"],
        "D(x) vs D(g(z))": [r"^stability/D_real$", r"^stability/D_fake$"],
        "D gradient norm, parameters ‖∇θ loss_D‖": [r"^stability/grad_norm_D$"],
        "D gradient norm, input ‖∂D/∂x‖ (real, fake, mixed)": [r"^stability/grad_input_(real|fake|mixed)$"],
        "G gradient norm": [r"^stability/grad_norm_G$"],
    },
    "Quality": {
        "modes captured (G, EMA)": [rf"^quality{_G_EMA}/modes$"],
        "reverse KL to uniform over modes": [rf"^quality{_G_EMA}/reverse_kl$"],
        "FID, digit-classifier features (not Inception FID)": [rf"^fidelity{_G_EMA}/fid_digits$"],
        "FID (Inception)": [rf"^fidelity{_G_EMA}/fid_inception$"],
        "KID": [rf"^fidelity{_G_EMA}/kid_"],
        "IS": [rf"^fidelity{_G_EMA}/is_"],
    },
    # On the FID/KID features: precision (Kynkäänniemi et al. 2019, k = 3) and recall by torch-fidelity,
    # density and coverage (Naeem et al. 2020, k = 5) by metrics/toy.py.
    "Precision, recall, density, coverage": {
        "fidelity: precision, density (fakes on the real manifold)": [
            rf"^fidelity{_G_EMA}/(precision|density)_"],
        "diversity: recall, coverage (the real manifold reached)": [rf"^fidelity{_G_EMA}/(recall|coverage)_"],
    },
}


def to_u8(x: Tensor) -> Tensor:
    """Generator output in [-1, 1] → uint8 images in 0..255 (what torch-fidelity's extractors take)."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


@contextlib.contextmanager
def preserve_buffers(*modules: nn.Module) -> Iterator[None]:
    """Run modules in train mode (batch-norm batch statistics, as in training) and then put back their
    buffers (BN running stats, spectral-norm power-iteration vectors): measuring never changes training."""
    saved = [[b.clone() for b in m.buffers()] for m in modules]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, bufs in zip(modules, saved):
                for b, s in zip(m.buffers(), bufs):
                    b.copy_(s)


@torch.no_grad()
def sample_u8(G: nn.Module, n: int, latent_dim: int, gen: torch.Generator, chunk: int = 500) -> Tensor:
    """n uint8 images of G on the CPU, in fixed chunks (batch statistics do not depend on n)."""
    out = []
    with preserve_buffers(G):
        for start in range(0, n, chunk):
            z = torch.randn(min(chunk, n - start), latent_dim, device=gen.device, generator=gen)
            out.append(to_u8(G(z)).cpu())
    return torch.cat(out)


class ImageEvaluator:
    """Reference images, digit classifier and feature extractors, set up once per run (rank 0)."""

    def __init__(self, cfg: Any, train_images: Tensor, device: torch.device) -> None:
        from mixgan.data.gan_images import reference_images
        from mixgan.rundir.paths import check_writable
        from mixgan.trainers.digits_net import load_digit_classifier

        m = cfg.metrics
        self.cfg, self.cuda = cfg, device.type == "cuda"
        check_writable(m.cache_dir, "metrics.cache_dir")  # a file or read-only: one line, before any work
        self.cache = Path(m.cache_dir).expanduser()
        self.real, self.real_name = reference_images(cfg.data, train_images, m.n_samples)
        self.extractors: list[tuple[str, str, Path]] = []  # (tag suffix, torch-fidelity name, weights)
        self.digits = None
        if cfg.data.name in EMBEDDED_IMAGES:  # modes need the digit classifier, whatever the extractors
            w = m.classifier_width
            self.digits = load_digit_classifier(self.cache, m.classifier_epochs, 0, w, 4 * w)
            self.digits.model.to(device)
        names = resolved_extractors(cfg)
        if names:  # torch-fidelity takes seconds to import: only when it is used
            from mixgan.metrics.fidelity import INCEPTION, inception_weights, register_digits
        if "digits" in names and self.digits is not None:
            self.extractors.append(("digits", register_digits(self.digits.path, self.digits.tag),
                                    self.digits.path))
        if "inception" in names:
            weights, message = inception_weights(m.inception_weights)
            if weights is None:
                print(f"mixgan: {message}", file=sys.stderr)  # one line; the run goes on without them
            else:
                self.extractors.append(("inception", INCEPTION, weights))

    def evaluate(self, fake: Tensor, suffix: str = "") -> dict[str, float]:
        """quality{suffix}/modes, /reverse_kl (digit data) and fidelity{suffix}/<metric>_<extractor>
        (fid, kid, is, precision, recall, density, coverage: metrics/fidelity.py)."""
        from mixgan.metrics.fidelity import fidelity_metrics
        from mixgan.metrics.stacked import image_mode_stats

        m, out = self.cfg.metrics, {}
        if self.digits is not None:
            stats = image_mode_stats(self.digits.model, fake)
            out.update({f"quality{suffix}/{k}": float(v) for k, v in stats.items()})
        for tag, name, weights in self.extractors:
            vals = fidelity_metrics(fake, self.real, name, weights, self.real_name, self.cache / "fidelity",
                                    cuda=self.cuda, kid_subsets=m.kid_subsets,
                                    kid_subset_size=m.kid_subset_size, rgb=tag == "inception")
            out.update({f"fidelity{suffix}/{k}_{tag}": v for k, v in vals.items()})
        return out
