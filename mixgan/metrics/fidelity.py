"""FID, KID, IS and precision/recall through torch-fidelity's own functions (never reimplemented), and
density/coverage (Naeem et al. 2020) on the same features, with torch-fidelity's Inception when its
weights are on disk, or with our digit classifier registered as a feature extractor (offline; its numbers
are NOT comparable to Inception FID: tags end in `_digits`).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch_fidelity
from torch import Tensor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import get_kwarg
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics_cached, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric
from torch_fidelity.utils import (
    cache_lookup_one_recompute_on_miss,
    create_feature_extractor,
    extract_featuresdict_from_input_id_cached,
    get_cacheable_input_name,
    resolve_feature_layer_for_metric,
)

from mixgan.errors import DataError, first_line
from mixgan.metrics.digits_net import load_digit_model, u8_to_input
from mixgan.metrics.toy import NEAREST_K, density_coverage, knn_radii

INCEPTION = "inception-v3-compat"
# torch-fidelity's names → ours (the `_<extractor>` suffix is added by `fidelity_metrics`)
KEYS = {"frechet_inception_distance": "fid", "kernel_inception_distance_mean": "kid",
        "inception_score_mean": "is", "precision": "precision", "recall": "recall",
        "density": "density", "coverage": "coverage"}  # the last two are ours (metrics/toy.py)


class ImageTensors(torch.utils.data.Dataset):
    """uint8 (N,C,H,W) images as a torch-fidelity input; grey images repeated to RGB for Inception."""

    def __init__(self, images: Tensor, rgb: bool = False) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 (N,C,H,W) images, got {images.dtype} {tuple(images.shape)}")
        self.images, self.rgb = images.cpu(), rgb and images.shape[1] == 1

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i].expand(3, -1, -1) if self.rgb else self.images[i]


class DigitsExtractor(FeatureExtractorBase):
    """Our digit classifier as a torch-fidelity feature extractor (uint8 (N,C,H,W) in, like Inception).

    Every channel is one digit (1 for digits, 3 for Stacked digits): `features` concatenates the
    classifier's penultimate features (hidden units) of the C channels; `logits` are the log-probs of
    the 10^C digit combinations (log p(d0)+log p(d1)+log p(d2)), so IS is over the 1,000 modes.
    """

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError("DigitsExtractor needs feature_extractor_weights_path (see register_digits)")
        self.net = load_digit_model(feature_extractor_weights_path)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> Tensor:
        return torch.zeros(1, 1, 8, 8, dtype=torch.uint8)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"expected uint8 (N,C,H,W) images, got {x.dtype} {tuple(x.shape)}")
        n, c = x.shape[:2]
        feats = self.net.features(u8_to_input(x))  # (N*C, hidden)
        out = {"features": feats.reshape(n, -1)}
        if "logits" in self.features_list:
            logp = torch.log_softmax(self.net.classifier(feats), 1).reshape(n, c, 10)
            joint = logp[:, 0]
            for k in range(1, c):  # outer sum: joint[i, 10·a + b] = joint_prev[i, a] + logp_k[i, b]
                joint = (joint[:, :, None] + logp[:, k, None, :]).reshape(n, -1)
            out["logits"] = joint
        return tuple(out[name] for name in self.features_list)


def register_digits(weights: str | Path, tag: str) -> str:
    """Register the digit classifier in `weights` under a name that carries its hash `tag` (so
    torch-fidelity's cached reference statistics belong to these weights); returns the name."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    name = f"mixgan-digits-{tag}"
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(name, DigitsExtractor)
    return name


def inception_weights(path: str = "") -> tuple[Path | None, str]:
    """(weights file, "") for torch-fidelity's Inception, or (None, one line saying how to provide it).

    Looks at `path`, else at torch hub's cache, where torch-fidelity's own download would go; it
    never downloads (torch-fidelity would, from GitHub, when given no file).
    """
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(URL_INCEPTION_V3)
    if path:
        file = Path(path).expanduser()
        if file.is_file():
            return _plain_weights(file), ""
        where = f"{file} does not exist"
    elif cached.is_file():
        return _plain_weights(cached), ""
    else:
        where = f"no weights in {cached}"
    return None, (f"Inception FID/KID/IS/precision/recall/density/coverage skipped ({where}): "
                  f"download {URL_INCEPTION_V3} and pass --metrics.inception_weights=PATH "
                  f"(or put it in {cached.parent}); training continues")


def _plain_weights(file: Path) -> Path:
    """`file`, once it has loaded as plain data (`weights_only=True`); else a one-line DataError.

    torch-fidelity reads the weights with `torch.load(..., weights_only=False)`, which would run any
    code a crafted file holds; the same bytes that pass the weights-only unpickler name no such code.
    """
    try:
        torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # untrusted file: whatever breaks in it is a refusal, not a traceback
        named = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(err))  # torch says more
        why = f"it names {named.group(1)}" if named else first_line(err, 120)
        raise DataError(f"metrics.inception_weights: {file} is not a plain state_dict ({why}); "
                        f"accepted: torch-fidelity's inception-v3-compat weights file") from None
    return file


def _blas_threads(n: int) -> Any:
    # FID's eigvals and KID's kernels run in numpy: give its BLAS the threads torch has, not every
    # core (OMP_NUM_THREADS=1 → one; on a busy CPU a 192x192 eigvals took 1.3 s with all threads,
    # 0.02 s with one). threadpoolctl comes with scikit-learn.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def fidelity_metrics(fake: Tensor, real: Tensor, extractor: str, weights: str | Path, real_name: str,
                     cache_root: str | Path, cuda: bool = False, kid_subsets: int = 100,
                     kid_subset_size: int = 1000, rgb: bool = False) -> dict[str, float]:
    """FID, KID, IS (of `fake`), precision, recall, density and coverage of uint8 `fake` against uint8
    `real` images, with the named feature extractor.

    One feature extraction of `fake` (`calculate_metrics`, below). The features and FID statistics of
    `real` are cached in `cache_root` under `real_name` and the extractor's name (the name must change
    whenever the reference images do). Precision / density: how much of `fake` lies on the real
    manifold (fidelity); recall / coverage: how much of the real manifold `fake` reaches (diversity).
    """
    with _blas_threads(torch.get_num_threads()):
        out = calculate_metrics(
            input1=ImageTensors(fake, rgb), input2=ImageTensors(real, rgb), input2_cache_name=real_name,
            cache_root=str(Path(cache_root).expanduser()), cache=True, feature_extractor=extractor,
            feature_extractor_weights_path=str(weights), isc=True, fid=True, kid=True, prc=True,
            kid_subsets=kid_subsets, kid_subset_size=min(kid_subset_size, fake.shape[0], real.shape[0]),
            prc_batch_size=1000,
            save_cpu_ram=True,  # no DataLoader worker processes; precision/recall in 1000-row blocks
            cuda=cuda, batch_size=256, verbose=False,
        )
    return {ours: float(out[theirs]) for theirs, ours in KEYS.items()}


def calculate_metrics(**kw: Any) -> dict[str, float]:
    """`torch_fidelity.calculate_metrics(**kw)` for one feature extractor with isc, fid, kid and prc, plus
    `density` and `coverage` (Naeem et al. 2020, §3, k = 5: metrics/toy.py, tested against `prdc`) on
    the FID/KID features.

    The steps of torch-fidelity 0.4.0's `calculate_metrics_one_feature_extractor`, through its own
    functions, kept here so that the feature dicts it extracts once (input2's from its cache) also give
    density and coverage: no second pass over the images. The reals' k-NN radii (half the cost) are
    cached like their features.
    """
    layer = {m: resolve_feature_layer_for_metric(m, **kw) for m in ("isc", "fid", "kid", "prc")}
    net = create_feature_extractor(kw["feature_extractor"], sorted(set(layer.values())), **kw)
    feats = {i: extract_featuresdict_from_input_id_cached(i, net, **kw) for i in (1, 2)}  # fake, real
    out = dict(isc_featuresdict_to_metric(feats[1], layer["isc"], **kw))
    stats = [fid_featuresdict_to_statistics_cached(feats[i], get_cacheable_input_name(i, **kw), net,
                                                   layer["fid"], **kw) for i in (1, 2)]
    out.update(fid_statistics_to_metric(*stats, get_kwarg("verbose", kw)))
    out.update(kid_featuresdict_to_metric(feats[1], feats[2], layer["kid"], **kw))
    out.update(prc_featuresdict_to_metric(feats[1], feats[2], layer["prc"], **kw))
    fake_f, real_f = feats[1][layer["fid"]], feats[2][layer["fid"]]
    real_name = get_cacheable_input_name(2, **kw)  # the k-NN radii of the reals: cached beside their features
    radii = (cache_lookup_one_recompute_on_miss(f"{real_name}-{net.get_name()}-knn{NEAREST_K}-{layer['fid']}",
                                                lambda: knn_radii(real_f), **kw)
             if real_name is not None else knn_radii(real_f))
    density, coverage = density_coverage(fake_f[None], real_f, radii)
    out.update(density=density.item(), coverage=coverage.item())
    return out
