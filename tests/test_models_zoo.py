"""Model zoo: output shapes, the official PreAct ResNet-18 size, the Manifold-Mixup hook, DCGAN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mixgan.models.cnn import MLPClassifier, SmallCNN
from mixgan.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_plan
from mixgan.models.resnet import PreActResNet, preact_resnet18, wide_resnet


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def resnet18() -> PreActResNet:
    torch.manual_seed(0)
    return preact_resnet18(num_classes=10).eval()


def test_preact_resnet18_parameter_count(resnet18: PreActResNet) -> None:
    # facebookresearch/mixup-cifar10 models/resnet.py `ResNet18()` = ResNet(PreActBlock, [2,2,2,2])
    # with a conv-BN-ReLU stem. (11,173,962 is the post-activation ResNet-18, with BN in the
    # projection shortcuts.)
    assert _count(resnet18) == 11_171_274
    assert _count(nn.Linear(512, 100)) - _count(resnet18.linear) == 90 * 513


def test_wide_resnet_28_10_parameter_count() -> None:
    assert _count(wide_resnet(depth=28, widen=10)) == 36_479_194


def test_resnets_output_shapes(resnet18: PreActResNet) -> None:
    with torch.no_grad():
        assert resnet18(torch.randn(1, 3, 32, 32)).shape == (1, 10)
        gray = preact_resnet18(num_classes=7, in_channels=1).eval()
        assert gray(torch.randn(2, 1, 8, 8)).shape == (2, 7)
        assert gray(torch.randn(1, 1, 28, 28)).shape == (1, 7)
        for channels, size in ((3, 32), (1, 28), (1, 8)):
            wrn = wide_resnet(depth=10, widen=1, num_classes=7, in_channels=channels)
            assert wrn(torch.randn(2, channels, size, size)).shape == (2, 7)


def _model(index: int) -> tuple[nn.Module, torch.Tensor, int]:
    torch.manual_seed(0)
    if index == 0:  # small inputs: global pooling makes every size work, and keeps this fast
        return PreActResNet((1, 1, 1, 1), 10, 3), torch.randn(3, 3, 16, 16), 3
    if index == 1:
        return wide_resnet(depth=10, widen=1), torch.randn(3, 3, 16, 16), 3
    if index == 2:
        return SmallCNN(1, 10, width=8, dropout=0.3), torch.randn(3, 1, 8, 8), 3
    return MLPClassifier(2, hidden=16, depth=3, num_classes=2, dropout=0.2), torch.randn(3, 2), 3


@pytest.mark.parametrize("index", range(4))
def test_mix_hook_identity_and_effect(index: int) -> None:
    model, x, max_layer = _model(index)
    model.eval()
    with torch.no_grad():
        plain = model(x)
        for k in range(max_layer + 1):
            seen = []

            def record(h: torch.Tensor, seen: list = seen) -> torch.Tensor:
                seen.append(h.shape)
                return h

            assert torch.equal(model(x, mix_layer=k, mix_fn=record), plain)
            assert len(seen) == 1 and seen[0][0] == x.shape[0]
            # mixing with the batch reversed really changes the output (the hook is used)
            mixed = model(x, mix_layer=k, mix_fn=lambda h: 0.5 * h + 0.5 * h.flip(0))
            assert not torch.allclose(mixed, plain)
        with pytest.raises(ValueError):
            model(x, mix_layer=max_layer + 2, mix_fn=record)
        with pytest.raises(ValueError):
            model(x, mix_layer=1)


def test_preact_hook_sees_layer_outputs(resnet18: PreActResNet) -> None:
    shapes = {}
    with torch.no_grad():
        for k in range(4):
            record = lambda h, k=k: shapes.setdefault(k, h.shape) and h  # noqa: E731
            resnet18(torch.randn(1, 3, 16, 16), k, record)
    assert shapes == {0: (1, 3, 16, 16), 1: (1, 64, 16, 16), 2: (1, 128, 8, 8), 3: (1, 256, 4, 4)}


def test_small_cnn_features_and_sizes() -> None:
    model = SmallCNN(in_channels=1, num_classes=10, hidden=64)
    for size in (8, 28, 32):
        x = torch.randn(3, 1, size, size)
        assert model(x).shape == (3, 10) and model.features(x).shape == (3, 64)
    model.eval()
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(model.classifier(model.features(x)), model(x))
    assert SmallCNN(3, 100)(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_mlp_shapes_and_dropout() -> None:
    model = MLPClassifier(in_features=30, hidden=32, depth=2, num_classes=3, dropout=0.5)
    x = torch.randn(5, 30)
    assert model(x).shape == (5, 3) and model.features(x).shape == (5, 32)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout is active in training mode
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    ("size", "channels", "plan"), [(32, 3, (4, 3)), (28, 1, (7, 2)), (8, 1, (4, 1))]
)
@pytest.mark.parametrize("sn", [False, True])
def test_dcgan_shapes(size: int, channels: int, plan: tuple[int, int], sn: bool) -> None:
    assert dcgan_plan(size) == plan
    g = DCGANGenerator(latent_dim=16, channels=channels, image_size=size, base=8)
    d = DCGANDiscriminator(channels=channels, image_size=size, base=8, spectral_norm=sn)
    fake = g(torch.randn(5, 16))
    assert fake.shape == (5, channels, size, size)
    assert fake.min() >= -1 and fake.max() <= 1  # Tanh output
    logits = d(fake)
    assert logits.shape == (5,)
    logits.sum().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_dcgan_spectral_norm_and_bad_size() -> None:
    d = DCGANDiscriminator(channels=3, image_size=32, base=8, spectral_norm=True, batch_norm=False)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    assert all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    for bad in (30, 4, 100):
        with pytest.raises(ValueError):
            dcgan_plan(bad)
