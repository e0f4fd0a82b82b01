"""PreAct ResNet-18 of facebookresearch/mixup-cifar10 (the CIFAR net of Zhang et al. 2018, §3.2)
and WideResNet-28-10, both with a Manifold-Mixup hook to mix a hidden layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch.nn.functional as F
from torch import Tensor, nn

MixFn = Callable[[Tensor], Tensor]


def check_mix(mix_layer: int | None, mix_fn: MixFn | None, max_layer: int) -> None:
    """Raise ValueError unless (mix_layer, mix_fn) are both None or a layer in 0..max_layer."""
    if (mix_layer is None) != (mix_fn is None):
        raise ValueError("give both mix_layer and mix_fn, or neither")
    if mix_layer is not None and not 0 <= mix_layer <= max_layer:
        raise ValueError(f"mix_layer must be in 0..{max_layer}, got {mix_layer}")


def mix_through(x: Tensor, stages: Iterable[Callable[[Tensor], Tensor]], mix_layer: int | None,
                mix_fn: MixFn | None, stem: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """x through `stem` then `stages`, mixed (manifold mixup) at layer `mix_layer`: 0 is the input
    before the stem, k the output of stage k. Call `check_mix` first."""
    if mix_layer == 0:
        x = mix_fn(x)
    if stem is not None:
        x = stem(x)
    for k, stage in enumerate(stages, 1):
        x = stage(x)
        if mix_layer == k:
            x = mix_fn(x)
    return x


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows or precedes it)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016, "Identity Mappings"): BN-ReLU-conv x 2."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, 1, stride=stride, bias=False)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        # As in mixup-cifar10's models/resnet.py: the shortcut (identity or 1x1 conv) takes the
        # pre-activated relu(bn1(x)), not x. Kept on purpose to reproduce the paper's network.
        shortcut = self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """mixup-cifar10's `ResNet(PreActBlock, ...)`: conv-BN-ReLU stem, 4 stages 64-128-256-512,
    global average pool (= avg_pool2d(4) on 32x32 inputs), linear.

    forward(x, mix_layer=k, mix_fn=f) applies f to the hidden activation at depth k
    (0 = the input, 1..3 = after layer1..layer3), as Manifold Mixup (Verma et al. 2019).
    """

    def __init__(
        self,
        num_blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = conv3x3(in_channels, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(512, num_blocks[3], stride=2)
        self.linear = nn.Linear(512 * PreActBlock.expansion, num_classes)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes * PreActBlock.expansion
        return nn.Sequential(*layers)

    def features(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Penultimate 512-d features (after global average pooling)."""
        check_mix(mix_layer, mix_fn, 3)
        out = mix_through(x, (self.layer1, self.layer2, self.layer3, self.layer4), mix_layer, mix_fn,
                          stem=lambda t: F.relu(self.bn1(self.conv1(t))))
        # Adaptive pooling equals mixup-cifar10's avg_pool2d(out, 4) on the 4x4 map of a 32x32
        # input, and also works for 8x8 and 28x28 inputs.
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Logits (N, num_classes); see the class docstring for the mixing hook."""
        return self.linear(self.features(x, mix_layer, mix_fn))


def preact_resnet18(num_classes: int = 10, in_channels: int = 3) -> PreActResNet:
    """PreAct ResNet-18 (11,171,274 parameters for 10 classes, 3 input channels)."""
    return PreActResNet((2, 2, 2, 2), num_classes, in_channels)


class WideBasic(nn.Module):
    """WRN basic block (Zagoruyko & Komodakis 2016): BN-ReLU-conv, dropout, BN-ReLU-conv."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.dropout = nn.Dropout(dropout)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        act = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(act)))))
        # Identity shortcut takes x; a projection takes the activated input (xternalz WRN).
        return out + (x if self.shortcut is None else self.shortcut(act))


class WideResNet(nn.Module):
    """WideResNet-depth-widen for 32x32 images, 16-16k-32k-64k channels, same mix hook as
    PreActResNet (0 = input, 1..3 = after block group 1..3)."""

    def __init__(
        self,
        depth: int = 28,
        widen: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = conv3x3(in_channels, widths[0])
        groups = []
        for g in range(3):
            blocks = [
                WideBasic(
                    widths[g] if i == 0 else widths[g + 1],
                    widths[g + 1],
                    (1 if g == 0 else 2) if i == 0 else 1,
                    dropout,
                )
                for i in range(n)
            ]
            groups.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(widths[3])
        self.linear = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def features(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Penultimate 64*widen features (after the final BN-ReLU and global average pooling)."""
        check_mix(mix_layer, mix_fn, 3)
        out = mix_through(x, (self.block1, self.block2, self.block3), mix_layer, mix_fn, stem=self.conv1)
        return F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)

    def forward(
        self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None
    ) -> Tensor:
        """Logits (N, num_classes)."""
        return self.linear(self.features(x, mix_layer, mix_fn))


def wide_resnet(
    depth: int = 28,
    widen: int = 10,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.0,
) -> WideResNet:
    """WideResNet-28-10 by default (36,479,194 parameters for 10 classes)."""
    return WideResNet(depth, widen, num_classes, in_channels, dropout)
