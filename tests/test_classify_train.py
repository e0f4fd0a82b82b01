"""The classifier through the CLI: outputs, determinism, resume, corrupted labels, bad input."""

import json

import pytest
import torch

from mixgan.config.classify import ClassifyConfig, ClassifyData
from mixgan.config.core import load_config, to_dict
from mixgan.data.classify import load_classify_data
from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import main
from mixgan.trainers.classifier import ClassifierTrainer, lr_at

from runhelp import ctrl_c_at, make_image_folder, poison_at, rows

# Iris, a tiny MLP, 4 epochs: a whole run takes a fraction of a second.
IRIS = ["--task=classify", "--data.name=iris", "--model.name=mlp", "--model.hidden=16", "--train.epochs=4",
        "--train.batch_size=16", "--run.progress=false", "--run.checkpoint_every=1"]
DIGITS = ["--task=classify", "--model.width=4", "--model.hidden=8", "--train.epochs=2",
          "--run.progress=false", "--metrics.image_every=0"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(tmp_path, *args, name="run", base=IRIS):
    assert main([*base, f"--run.dir={tmp_path}", f"--run.name={name}", *args]) == 0
    return tmp_path / name


def test_task_classify_defaults_to_the_digits_preset():
    assert to_dict(load_config("configs/classify/digits.yaml")) == to_dict(ClassifyConfig())
    assert load_config(task="classify").data.name == "digits"


def test_digits_run_logs_every_epoch_and_summarizes(tmp_path):
    run_dir = run(tmp_path, "--mixup", "--data.corrupt=0.5", "--model.dropout=0.1", base=DIGITS)
    lines = rows(run_dir)
    assert [r["step"] for r in lines] == [1, 2]
    keys = {"train/loss", "train/acc", "test/loss", "test/error", "test/error_top5", "test/ece",
            "test/error_best", "lr", "train/memorized"}
    assert keys <= set(lines[0])
    assert all(0 <= r["test/error_top5"] <= r["test/error"] <= 100 for r in lines)
    assert lines[1]["test/error_best"] == min(r["test/error"] for r in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final"]["test/error"] == lines[-1]["test/error"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    assert "test/error" in acc.Tags()["scalars"] and "pictures/between" in acc.Tags()["images"]


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    a = rows(run(tmp_path, "--mixup", "--seed=3", name="a"))
    b = rows(run(tmp_path, "--mixup", "--seed=3", name="b"))
    c = rows(run(tmp_path, "--mixup", "--seed=4", name="c"))
    assert a == b and a != c


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    extra = ["--mixup", "--objective.per_sample=true", "--model.dropout=0.2"]
    full = rows(run(tmp_path, *extra, name="full"))
    restore = ctrl_c_at(monkeypatch, ClassifierTrainer, 2)
    assert main([*IRIS, f"--run.dir={tmp_path}", "--run.name=cut", *extra]) == 130
    cut = tmp_path / "cut"
    assert [r["step"] for r in rows(cut)] == [1, 2]
    restore()
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == full
    state = load_checkpoint(cut / CHECKPOINT)
    assert state["step"] == 4 and "opt" in state["trainer"]


def test_corrupted_labels_exact_fraction_reproducible():
    cfg = ClassifyData(name="digits", corrupt=0.5, corrupt_seed=7)
    clean = load_classify_data(ClassifyData(name="digits"), 0)
    a, b = load_classify_data(cfg, 0), load_classify_data(cfg, 1)  # the run seed does not matter
    n = clean.y_train.shape[0]
    assert int(a.corrupted.sum()) == round(0.5 * n)
    assert torch.equal(a.y_train, b.y_train) and torch.equal(a.corrupted, b.corrupted)
    assert torch.equal(a.y_train[~a.corrupted], clean.y_train[~a.corrupted])
    assert torch.equal(a.x_test, clean.x_test) and torch.equal(a.y_test, clean.y_test)  # test set clean
    other = load_classify_data(ClassifyData(name="digits", corrupt=0.5, corrupt_seed=8), 0)
    assert not torch.equal(other.corrupted, a.corrupted)
    # uniform random labels are sometimes right by chance; excluding the true class changes exactly p·n
    assert round(0.5 * n) * 0.85 < int((a.y_train != clean.y_train).sum()) < round(0.5 * n)
    strict = load_classify_data(ClassifyData(name="digits", corrupt=0.3, corrupt_exclude_true=True), 0)
    assert int((strict.y_train != clean.y_train).sum()) == round(0.3 * n)


def test_lr_milestones_divide_by_ten():
    cfg = load_config("configs/classify/cifar10.yaml").train
    assert [lr_at(e, cfg) for e in (0, 99, 100, 149, 150, 199)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    recipe = (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.batch_size, cfg.epochs)
    assert recipe == ("sgd", 0.9, 1e-4, 128, 200)


def test_missing_data_folder_is_one_line_exit_2_no_run_dir(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["--config=configs/classify/cifar10.yaml", f"--data.root={tmp_path / 'none'}",
                 f"--run.dir={runs}", "--run.progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "cifar-10-batches-py/data_batch_1..5 and test_batch" in err and "never downloads" in err
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("args,fragment", [
    (["--data.name=svhn"], "data.name"),
    (["--model.name=mlp"], "model.name"),  # digits are images
    (["--objective.mix_layer=4"], "objective.mix_layer"),
    (["--data.corrupt=1.5"], "data.corrupt"),
    (["--train.milestones=[20,10]"], "train.milestones"),
    (["--train.optimizer=rmsprop"], "train.optimizer"),
    (["--objective.pairing=nearest"], "objective.pairing"),
])
def test_bad_values_name_the_key(tmp_path, capsys, args, fragment):
    assert main(["--task=classify", f"--run.dir={tmp_path}", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("extra", [
    [("objective.neighbors", 5), ("objective.pairing", "same_class")],  # SC + KNN (Table 5)
    [("objective.mix_layer", 2)],  # mixing hidden layer 2
    [("objective.mix_labels", False), ("objective.label_smoothing", 0.1)],  # inputs only + smoothing
    [("objective.input_noise", 0.1), ("objective.pairing", "other_class")],
])
def test_ablation_options_train(extra):
    base = [("data.name", "iris"), ("model.name", "mlp"), ("model.hidden", 16), ("objective.name", "mixup"),
            ("train.epochs", 3), ("train.batch_size", 16)]
    trainer = ClassifierTrainer(load_config(overrides=base + extra, task="classify"), torch.device("cpu"))
    for _ in range(3):
        trainer.advance()
    out = trainer.measure()
    assert out["test/error"] < 50 and out["train/loss"] > 0  # iris is learned in 3 epochs

def test_image_folder_trains_through_a_dataloader(tmp_path):
    root = make_image_folder(tmp_path, {"train": 6, "val": 2})
    run_dir = run(tmp_path, f"--data.root={root}", "--data.name=imagefolder", "--data.workers=0",
                  "--data.image_size=8", "--model.name=small_cnn", "--model.width=4", "--train.batch_size=4",
                  "--metrics.image_every=0", "--train.epochs=2", "--model.hidden=8",
                  "--run.checkpoint_every=0", name="folder", base=IRIS[:1] + IRIS[-2:-1])
    lines = rows(run_dir)
    assert [r["step"] for r in lines] == [1, 2] and "test/error_top5" not in lines[0]


def test_two_d_data_draws_the_decision_heatmap():
    cfg = load_config("configs/classify/moons.yaml", [("train.epochs", 1)])
    trainer = ClassifierTrainer(cfg, torch.device("cpu"))
    trainer.advance()
    drawn = []

    class Logger:
        def figure(self, tag, fig, step):
            import matplotlib.pyplot as plt

            drawn.append((tag, step, len(fig.axes)))
            plt.close(fig)

    assert trainer.step == trainer.total  # the last epoch: the loop draws pictures then
    trainer.pictures(Logger())
    assert [d[:2] for d in drawn] == [("pictures/decision", 1), ("pictures/between", 1)]


def test_nan_weights_give_status_diverged(tmp_path, monkeypatch):
    poison_at(monkeypatch, ClassifierTrainer, 2, lambda t: t.model.parameters())
    summary = json.loads((run(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 2
