"""ImageNet-scale classifiers (paper §3.1): torchvision's ResNet-50/101 and ResNeXt-101 32x4d with the
mix hook, the paper's recipe (warm-up 0.1 → 0.4, ÷10 at 30/60/80), and the preset training on a tiny
ImageFolder tree, alone and as 2 gloo ranks."""

import json

import pytest
import torch

from mixgan.config.core import load_config, to_dict
from mixgan.models.imagenet import MixableResNet, torchvision_resnet
from mixgan.train import main
from mixgan.trainers.classifier import ClassifierTrainer, lr_at

from runhelp import assert_mixup_at_one_is_erm, make_image_folder, rows, run_ranks

PRESET = "configs/classify/imagenet_resnet50_mixup.yaml"
TINY = ["--data.image_size=32", "--data.workers=0", "--train.batch_size=8", "--train.epochs=2",
        "--train.warmup_epochs=1", "--metrics.eval_batch_size=8", "--run.progress=false", "--device=cpu",
        "--run.checkpoint_every=0"]  # one checkpoint (200 MB with SGD momentum) at the end

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnets_are_torchvision_s_with_the_hook():
    from torchvision.models import resnet50

    torch.manual_seed(0)
    ours = torchvision_resnet("resnet50", 1000)
    assert _params(ours) == 25_557_032  # torchvision's ResNet-50
    ref = resnet50(weights=None)
    ref.load_state_dict(ours.resnet.state_dict())  # the same keys: torchvision weights load as they are
    ours.eval(), ref.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = ours(x)
        assert torch.equal(plain, ref(x))
        for k in range(4):
            assert torch.equal(ours(x, mix_layer=k, mix_fn=lambda h: h), plain)
            assert not torch.allclose(ours(x, mix_layer=k, mix_fn=lambda h: 0.5 * (h + h.flip(0))), plain)
    assert _params(torchvision_resnet("resnet101", 1000)) == 44_549_160  # torchvision's ResNet-101


def test_resnext101_32x4d_has_cardinality_32_and_width_4():
    net = torchvision_resnet("resnext101_32x4d", 10).resnet
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    for i, width in enumerate((128, 256, 512, 1024), 1):  # 32 groups x 4 channels x 2^(stage-1)
        conv = getattr(net, f"layer{i}")[0].conv2
        assert (conv.groups, conv.in_channels, conv.out_channels) == (32, width, width)
    assert net.fc.in_features == 2048
    assert isinstance(torchvision_resnet("resnet50", 10, in_channels=1), MixableResNet)


def test_mixup_at_lambda_one_is_erm_for_resnet50(monkeypatch):
    torch.manual_seed(0)
    model = torchvision_resnet("resnet50", 5)
    assert_mixup_at_one_is_erm(monkeypatch, model, torch.rand(4, 3, 32, 32), torch.randint(0, 5, (4,)))


def test_presets_hold_the_paper_s_recipe():
    cfg = load_config(PRESET)
    erm = load_config("configs/classify/imagenet_resnet50_erm.yaml", [("objective.name", "mixup")])
    assert to_dict(erm) == to_dict(cfg)
    t = cfg.train
    assert (t.optimizer, t.momentum, t.weight_decay, t.batch_size, t.epochs) == ("sgd", 0.9, 1e-4, 1024, 90)
    assert (cfg.model.name, cfg.objective.alpha, cfg.data.image_size) == ("resnet50", 0.2, 224)
    epochs = (0, 2.5, 5, 29.9, 30, 59.9, 60, 80, 89.9)
    expected = [0.1, 0.25, 0.4, 0.4, 0.04, 0.04, 0.004, 4e-4, 4e-4]
    assert [lr_at(e, t) for e in epochs] == pytest.approx(expected)


def test_warm_up_moves_the_lr_at_every_step():
    over = [("data.name", "iris"), ("model.name", "mlp"), ("model.hidden", 8), ("train.epochs", 3),
            ("train.batch_size", 30), ("train.optimizer", "sgd"), ("train.lr", 0.4),
            ("train.warmup_epochs", 2), ("train.warmup_lr", 0.1), ("train.milestones", [])]
    cfg = load_config(overrides=over, task="classify")
    trainer = ClassifierTrainer(cfg, torch.device("cpu"))
    seen, step = [], trainer.opt.step
    trainer.opt.step = lambda: (seen.append(trainer.opt.param_groups[0]["lr"]), step())
    for _ in range(3):
        trainer.advance()
    n = len(trainer.batches(0))  # 120 training flowers / 30 = 4 steps an epoch
    assert n == 4 and seen == pytest.approx([lr_at(e + i / n, cfg.train) for e in range(3) for i in range(n)])
    assert seen[:5] == pytest.approx([0.1, 0.1375, 0.175, 0.2125, 0.25]) and seen[-1] == 0.4


def test_preset_trains_on_an_image_folder_alone_and_as_two_gloo_ranks(tmp_path):
    root = make_image_folder(tmp_path, {"train": 8, "val": 4})
    args = [f"--config={PRESET}", f"--data.root={root}", f"--run.dir={tmp_path / 'runs'}", *TINY]
    assert main([*args, "--run.name=one"]) == 0
    assert run_ranks([*args, "--run.name=two"]) == [0, 0]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["one", "two"]  # rank 1 wrote nothing
    for name in ("one", "two"):
        lines = rows(tmp_path / "runs" / name)
        assert [r["step"] for r in lines] == [1, 2] and {"test/error", "train/loss"} <= set(lines[0])
        # 2 steps an epoch: warm-up steps at 0.1 and 0.25 in epoch 1 (the last one logged), then 0.4
        assert [r["lr"] for r in lines] == pytest.approx([0.25, 0.4])
        summary = json.loads((tmp_path / "runs" / name / "summary.json").read_text())
        assert summary["status"] == "completed"


def test_bench_row_reports_images_per_second():
    from mixgan.benchmarks.classify import bench_imagenet
    from mixgan.benchmarks.gan import Table

    t = Table()
    rate = bench_imagenet(torch.device("cpu"), t, quick=True, size=32, batch=2)
    (row,) = t.rows
    assert rate > 0 and row[0].startswith("ImageNet-preset network") and "3×32×32" in row[1]
    assert row[2] == f"{rate:.1f} images/s"
