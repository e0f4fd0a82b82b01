"""Classifier networks by name, wrapped so that they take pixels in [0, 1] (normalization inside),
which keeps mixing, augmentation and adversarial ε in pixel units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mixgan.models.resnet import MixFn


class Classifier(nn.Module):
    """(x − mean) / std, then the network; the Manifold-Mixup hook is passed through."""

    def __init__(self, net: nn.Module, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.net = net
        self.normalized = mean is not None
        if mean is not None and std is not None:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def _norm(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std if self.normalized else x

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features of the network (for the PCA picture and feature extractors)."""
        return self.net.features(self._norm(x))

    def forward(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        # Mixing the normalized input equals mixing pixels (an affine map keeps λa + (1−λ)b).
        return self.net(self._norm(x), mix_layer=mix_layer, mix_fn=mix_fn)


def make_classifier(cfg: Any, in_shape: tuple[int, ...], num_classes: int,
                    normalization: tuple[Sequence[float], Sequence[float]] | None = None) -> Classifier:
    """The network named by a `model` config section, for inputs of shape `in_shape`."""
    from mixgan.errors import ConfigError
    from mixgan.models.cnn import MLPClassifier, SmallCNN
    from mixgan.models.imagenet import IMAGENET_MODELS, torchvision_resnet
    from mixgan.models.resnet import preact_resnet18, wide_resnet
    from mixgan.models.speech import LeNet, SpeechVGG

    if cfg.name == "mlp":
        net: nn.Module = MLPClassifier(in_shape[0], cfg.hidden, cfg.depth or 2, num_classes, cfg.dropout)
    elif cfg.name == "small_cnn":
        net = SmallCNN(in_shape[0], num_classes, cfg.width, cfg.hidden, cfg.dropout)
    elif cfg.name == "wide_resnet":
        net = wide_resnet(cfg.depth or 28, cfg.widen, num_classes, in_shape[0], cfg.dropout)
    elif cfg.name == "preact_resnet18":
        net = preact_resnet18(num_classes, in_shape[0])
        if cfg.dropout > 0:  # the official net has no dropout: add it before the classifier
            net.linear = nn.Sequential(nn.Dropout(cfg.dropout), net.linear)
    elif cfg.name in ("lenet", "vgg11"):  # the paper's speech networks (§3.3)
        build = LeNet if cfg.name == "lenet" else SpeechVGG
        try:
            net = build(in_shape, num_classes, cfg.width, cfg.hidden, cfg.dropout)
        except ValueError as err:  # the input is too small for the network's pooling
            raise ConfigError(f"model.name: {err}; accepted: a larger input or another model") from err
    elif cfg.name in IMAGENET_MODELS:
        net = torchvision_resnet(cfg.name, num_classes, in_shape[0])
        if cfg.dropout > 0:
            net.resnet.fc = nn.Sequential(nn.Dropout(cfg.dropout), net.resnet.fc)
    else:
        raise ValueError(f"unknown classifier {cfg.name!r}")
    mean, std = normalization if normalization is not None else (None, None)
    return Classifier(net, mean, std)
