"""Issue 33, item 1: compare never merges or mislabels groups. Groups that differ only in stabilizers
get labels of their own (train_gan and run_logger record the whole objective, off stabilizers as off),
the same seed twice in one group is refused, and a run_logger run keeps its logged columns and length."""

import pytest
import torch
from torch import nn

import mixgan
from mixgan.compare import compare, distinct, main


def G():
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))


def D():
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))


DATA = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))


def train(root, stabilizers, seed=0):
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2), stabilizers=stabilizers)
    return mixgan.train_gan(G=G, D=D, data=DATA, loss=loss, steps=2, batch_size=8, seed=seed, dir=root,
                            metrics_every=1, image_every=0, checkpoint_every=0, progress=False)


def test_groups_that_differ_only_in_stabilizers_get_three_labels(tmp_path):
    for seed in (0, 1):
        train(tmp_path / "mixup", [], seed)
        train(tmp_path / "r1", [mixgan.R1(weight=1.0)], seed)
        train(tmp_path / "r1-lecam", [mixgan.R1(weight=1.0), mixgan.LeCam(weight=0.3)], seed)
    cfg = (tmp_path / "mixup" / "mixup-s0" / "config.yaml").read_text()
    assert "lecam:" in cfg and "r1:" in cfg  # off stabilizers are recorded, off
    groups, _, text = compare([tmp_path / "mixup", tmp_path / "r1", tmp_path / "r1-lecam"], tmp_path / "cmp",
                              plots=False, tensorboard=False)
    labels = [g.label for g in groups]
    assert len(set(labels)) == 3 and [len(g.runs) for g in groups] == [2, 2, 2]
    assert labels == ["lecam off, r1 off", "lecam off, r1.weight=1.0", "lecam.weight=0.3, r1.weight=1.0"]
    assert all(f"| {label} | 2 |" in text for label in labels)


def test_two_groups_never_share_a_label():
    assert distinct(["mixup", "mixup", "erm", "mixup"]) == ["mixup", "mixup #2", "erm", "mixup #3"]


def test_the_same_seed_twice_in_one_group_is_refused_naming_the_runs(tmp_path, capsys):
    for _ in range(2):  # the same seeds run twice into one folder: run-s0, run-s0-2
        for seed in (0, 1):
            with mixgan.run_logger(dir=tmp_path / "mine", seed=seed, config={"method": "a"}) as run:
                run.log(1, {"loss/D": 0.5 + seed})
    with pytest.raises(mixgan.ConfigError, match=r"run-s0 and .*run-s0-2: .*seed \(0\)"):
        mixgan.compare_runs([tmp_path / "mine"], tmp_path / "cmp", plots=False, tensorboard=False)
    assert main([str(tmp_path / "mine"), "--out", str(tmp_path / "cmp2"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "run-s0-2" in err
    assert not (tmp_path / "cmp2").exists()


def test_a_run_logger_run_keeps_loss_d_and_its_length(tmp_path):
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2), stabilizers=[mixgan.R1(weight=1.0)])
    for seed in (0, 1):
        with mixgan.run_logger(dir=tmp_path / "mine", seed=seed, total=50, loss=loss) as run:
            for step in (25, 50):
                run.log(step, {"loss/D": 0.5 + seed, "mine/fid": 3.0 + step})
    cfg = (run.run_dir / "config.yaml").read_text()
    assert "r1:" in cfg and "weight: 1.0" in cfg and "steps: 50" in cfg and "lecam:" in cfg
    text = mixgan.compare_runs([tmp_path / "mine"], tmp_path / "cmp", plots=False, tensorboard=False)
    head = next(line for line in text.splitlines() if line.startswith("| group"))
    assert "| loss/D |" in head and "| mine/fid |" in head
    assert "‖∇θD‖" not in head  # not logged: no column of dashes
    assert "run length: 50 iterations" in text
    with pytest.raises(mixgan.ConfigError, match="train.steps"), \
            mixgan.run_logger(dir=tmp_path / "x", total=5, config={"train": {"steps": 6}}):
        pass
    assert not (tmp_path / "x").exists()


def test_a_run_written_without_its_off_stabilizers_still_resumes(tmp_path):
    # runs before issue 33 left off stabilizers out of config.yaml; resuming one compares what is on
    import yaml

    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2), stabilizers=[mixgan.R1(weight=1.0)])
    args = dict(G=G, D=D, data=DATA, loss=loss, batch_size=8, dir=tmp_path, name="r", metrics_every=1,
                image_every=0, checkpoint_every=1, progress=False)
    mixgan.train_gan(steps=2, **args)
    path = tmp_path / "r" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["stabilizers"] = {"r1": cfg["stabilizers"]["r1"]}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert mixgan.train_gan(steps=3, resume=tmp_path / "r", **args)["status"] == "completed"
