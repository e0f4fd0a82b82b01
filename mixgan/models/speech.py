"""The paper's speech networks (§3.3: "a LeNet and a VGG-11 ... each composed by two convolutional
[stacks] and two fully-connected layers"), as in GCommandsPytorch (adiyoss, `model.py`), sized from
the spectrogram's shape instead of its fixed 161 x 101, with the mix hook of models/resnet.py.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.errors import InputSizeError
from mixgan.models.resnet import MixFn, check_mix, mix_through

VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class _TwoLinear(nn.Module):
    """Both nets end in fc(hidden) → [dropout] → fc; `features` is up to fc(hidden), or its ReLU."""

    def _head(self, flat: int, hidden: int, num_classes: int, dropout: float) -> None:
        self.fc1 = nn.Linear(flat, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def features(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """Logits (N, num_classes)."""
        return self.fc2(self.drop(self.features(x, mix_layer, mix_fn)))


def _lenet_side(n: int) -> int:
    return ((n - 4) // 2 - 4) // 2  # two 5x5 convolutions (no padding), each followed by a 2x2 max-pool


class LeNet(_TwoLinear):
    """conv5(width)-pool-ReLU, conv5(width)-Dropout2d-pool-ReLU, fc(hidden)-ReLU-dropout, fc.

    GCommandsPytorch: width 20, hidden 1000, dropout 0.5 (its Dropout2d() and F.dropout defaults).
    Mix hook: 0 = input, 1 / 2 = after the first / second conv stage, 3 = after fc(hidden).
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, width: int = 20, hidden: int = 1000,
                 dropout: float = 0.5) -> None:
        super().__init__()
        c, h, w = in_shape
        side = (_lenet_side(h), _lenet_side(w))
        if min(side) < 1:
            raise InputSizeError(f"LeNet needs inputs of at least 16 x 16, got {h} x {w}")
        self.conv1 = nn.Conv2d(c, width, 5)
        self.conv2 = nn.Conv2d(width, width, 5)
        self.drop2d = nn.Dropout2d(dropout)
        self._head(width * side[0] * side[1], hidden, num_classes, dropout)

    def features(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The fc(hidden) activations (N, hidden)."""
        check_mix(mix_layer, mix_fn, 3)
        if mix_layer == 0:
            x = mix_fn(x)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        if mix_layer == 1:
            x = mix_fn(x)
        x = F.relu(F.max_pool2d(self.drop2d(self.conv2(x)), 2))
        if mix_layer == 2:
            x = mix_fn(x)
        x = F.relu(self.fc1(x.flatten(1)))
        return mix_fn(x) if mix_layer == 3 else x


class SpeechVGG(_TwoLinear):
    """VGG-11 with BatchNorm: conv3-BN-ReLU stacks (64, M, 128, M, 256x2, M, 512x2, M, 512x2, M; channels
    scaled by width/64), then fc(hidden) and fc. As in GCommandsPytorch there is no nonlinearity
    between the two linear layers; kept on purpose to reproduce the network (dropout, if any, sits
    before the last one). Mix hook: 0 = input, 1..3 = after the first..third max-pool.
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, width: int = 64, hidden: int = 512,
                 dropout: float = 0.0) -> None:
        super().__init__()
        c, h, w = in_shape
        if min(h, w) < 32:
            raise InputSizeError(f"VGG-11 needs inputs of at least 32 x 32 (five 2x2 max-pools), got "
                                 f"{h} x {w}")
        stages, layers = [], []
        for v in VGG11:
            if v == "M":
                stages.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
                layers = []
                continue
            out = max(1, int(v) * width // 64)
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.stages = nn.ModuleList(stages)
        self._head(c * (h >> 5) * (w >> 5), hidden, num_classes, dropout)  # five floored halvings

    def features(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The fc(hidden) outputs (N, hidden)."""
        check_mix(mix_layer, mix_fn, 3)
        return self.fc1(mix_through(x, self.stages, mix_layer, mix_fn).flatten(1))
