"""Small classifiers: a CNN for 8x8 digits (and 28/32 px images) and an MLP for tabular and 2-D
data, both with the Manifold-Mixup hook `forward(x, mix_layer, mix_fn)` of models/resnet.py.
"""

from __future__ import annotations

from torch import Tensor, nn

from mixgan.models.resnet import MixFn, check_mix, mix_through


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class SmallCNN(nn.Module):
    """Three conv stages (width, 2*width, 4*width), max-pooling after the first two, global
    average pooling, then a `hidden`-unit layer and the linear classifier.

    Any input size >= 4 px works (8x8 digits → 4 → 2; 28 → 14 → 7; 32 → 16 → 8). Dropout with
    probability `dropout` precedes the hidden and the output layer. The mixing hook acts at
    depth 0 (input), 1..3 (after stage 1..3, stage 3 already pooled to a vector).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        hidden: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            *_conv_bn_relu(in_channels, width), *_conv_bn_relu(width, width), nn.MaxPool2d(2)
        )
        self.stage2 = nn.Sequential(
            *_conv_bn_relu(width, 2 * width),
            *_conv_bn_relu(2 * width, 2 * width),
            nn.MaxPool2d(2),
        )
        self.stage3 = nn.Sequential(
            *_conv_bn_relu(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, hidden), nn.ReLU())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def features(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Penultimate features (N, hidden), the input of the last linear layer.

        Meant also as a feature extractor for FID-like metrics on small images.
        """
        check_mix(mix_layer, mix_fn, 3)
        return self.head(mix_through(x, (self.stage1, self.stage2, self.stage3), mix_layer, mix_fn))

    def forward(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Logits (N, num_classes)."""
        return self.classifier(self.features(x, mix_layer, mix_fn))


class MLPClassifier(nn.Module):
    """`depth` hidden layers Linear-ReLU-Dropout of `hidden` units, then a linear classifier.

    The mixing hook acts at depth 0 (input) or k = 1..depth (after hidden layer k).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 128,
        depth: int = 2,
        num_classes: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"MLPClassifier depth must be >= 1, got {depth}")
        sizes = [in_features] + [hidden] * depth
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout))
            for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.classifier = nn.Linear(hidden, num_classes)

    def features(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Last hidden layer's activations (N, hidden)."""
        check_mix(mix_layer, mix_fn, len(self.layers))
        return mix_through(x, self.layers, mix_layer, mix_fn)

    def forward(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Logits (N, num_classes)."""
        return self.classifier(self.features(x, mix_layer, mix_fn))
