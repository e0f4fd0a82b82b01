"""The paper's ImageNet networks (§3.1, Table 1): torchvision's ResNet-50, ResNet-101 and
ResNeXt-101 32x4d, untrained, with the mix hook of models/resnet.py.

torchvision has no `resnext101_32x4d` builder, so that one is its ResNet class with the ResNeXt
settings (Xie et al. 2017: cardinality 32, bottleneck width 4 per group, blocks 3-4-23-3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mixgan.models.resnet import MixFn, check_mix, mix_through

IMAGENET_MODELS = ("resnet50", "resnet101", "resnext101_32x4d")


def torchvision_resnet(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """The named torchvision ResNet (weights=None). The last BatchNorm of every residual block starts
    at γ = 0 (zero_init_residual), as in the recipe the paper follows (Goyal et al. 2017)."""
    from torchvision.models import resnet

    if name == "resnet50":
        net = resnet.resnet50(weights=None, num_classes=num_classes, zero_init_residual=True)
    elif name == "resnet101":
        net = resnet.resnet101(weights=None, num_classes=num_classes, zero_init_residual=True)
    elif name == "resnext101_32x4d":
        net = resnet.ResNet(resnet.Bottleneck, [3, 4, 23, 3], num_classes=num_classes,
                            zero_init_residual=True, groups=32, width_per_group=4)
    else:
        raise ValueError(f"unknown torchvision ResNet {name!r}; accepted: {', '.join(IMAGENET_MODELS)}")
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return MixableResNet(net)


class MixableResNet(nn.Module):
    """A torchvision ResNet (kept whole as `.resnet`, so its state_dict keys stay torchvision's under
    that prefix) run stage by stage: mix hook 0 = input, 1..3 = after layer1..layer3."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.resnet = resnet

    def features(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """The pooled features before the classifier (N, 2048)."""
        check_mix(mix_layer, mix_fn, 3)
        r = self.resnet
        x = mix_through(x, (r.layer1, r.layer2, r.layer3, r.layer4), mix_layer, mix_fn,
                        stem=lambda t: r.maxpool(r.relu(r.bn1(r.conv1(t)))))
        return torch.flatten(r.avgpool(x), 1)

    def forward(self, x: Tensor, mix_layer: int | None = None, mix_fn: MixFn | None = None) -> Tensor:
        """Logits (N, num_classes): without mixing, exactly torchvision's forward."""
        return self.resnet.fc(self.features(x, mix_layer, mix_fn))
