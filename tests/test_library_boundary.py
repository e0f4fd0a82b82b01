"""The library's own boundary (issue 35, item 6): run_logger refuses names and values that the run dir could
not keep as they are, holds the run dir's lock as the train command does, train_gan(resume=...) of a
run dir it did not write or that was edited is one line, and GANLoss.load_state_dict of another
configuration is one line that leaves the loss unchanged."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import mixgan
from mixgan.errors import CheckpointError, ConfigError
from mixgan.rundir.checkpoint import CHECKPOINT

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
ROOT = Path(__file__).resolve().parents[1]


def row_count(run_dir):
    return len((run_dir / "metrics.jsonl").read_text().splitlines())


@pytest.mark.parametrize("metrics,fragment", [
    ({"a": "1.5"}, "'a' is '1.5'"),  # text that float() would read
    ({"a": True}, "'a' is True"),
    ({"a": None}, "'a' is None"),
    ({"a": torch.ones(3)}, "a tensor of shape (3,)"),
    ({"a": torch.tensor(1 + 2j)}, "a tensor of shape ()"),
    ({"": 1.0}, "metric name ''"),
    ({"loss D": 1.0}, "metric name 'loss D'"),  # TensorBoard would write the tag loss_D
    ({"loss//D": 1.0}, "metric name 'loss//D'"),
    ({"/loss": 1.0}, "metric name '/loss'"),
    ({"x" * 129: 1.0}, "(131 characters)"),
    ({"step": 3.0}, "metric name 'step'"),  # it replaced the row's own step
    ({3: 1.0}, "metric name 3"),
    ([("a", 1.0)], "metrics are a list"),
])
def test_run_logger_refuses_a_name_or_value_it_could_not_keep_in_one_line(tmp_path, metrics, fragment):
    with mixgan.run_logger(dir=tmp_path, name="r", total=10) as run:
        run.log(1, {"loss/D": 0.5})
        with pytest.raises(ConfigError, match="RunLog.log") as err:
            run.log(2, metrics)
        assert fragment in str(err.value) and "\n" not in str(err.value)
        run.log(3, {"loss/D": 0.25})
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"step": 1, "loss/D": 0.5}, {"step": 3, "loss/D": 0.25}]  # the refused row: not written
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "completed"


def test_run_logger_takes_every_kind_of_real_number_and_records_nan_as_a_divergence(tmp_path):
    with mixgan.run_logger(dir=tmp_path, name="r", total=10) as run:
        run.log(1, {"a": 1, "b": np.float32(0.5), "c": torch.tensor([2.0]),
                    "d": torch.tensor(3, dtype=torch.int64), "e/f.g-h_1": 0.0})
        run.log(4, {"a": float("nan"), "b": float("inf")})
        run.log(5, {"a": 1.0})
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0] == {"step": 1, "a": 1.0, "b": 0.5, "c": 2.0, "d": 3.0, "e/f.g-h_1": 0.0}
    assert rows[1] == {"step": 4, "a": "nan", "b": "inf"}
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 4  # as the train command records it


def test_run_logger_refuses_a_step_beyond_its_total(tmp_path):
    # compare refuses such a row (rundir/validate.py): the logger refuses it when it is logged
    with mixgan.run_logger(dir=tmp_path, name="r", total=10) as run:
        run.log(10, {"a": 1.0})
        for step in (11, True, -1):
            with pytest.raises(ConfigError, match=r"accepted: an integer 0 to the run's total 10"):
                run.log(step, {"a": 1.0})
    assert row_count(tmp_path / "r") == 1


def test_run_logger_holds_the_run_dirs_lock_against_a_second_process(tmp_path):
    probe = ("import sys\nfrom mixgan.errors import ConfigError\n"
             "from mixgan.rundir.paths import run_dir_lock\n"
             "try:\n    with run_dir_lock([sys.argv[1]]):\n        print('locked')\n"
             "except ConfigError as err:\n    print(err)\n")

    def second_process(run_dir):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-c", probe, str(run_dir)], capture_output=True, text=True,
                              env=env, timeout=60).stdout.strip()

    with mixgan.run_logger(dir=tmp_path, name="r") as run:
        run.log(1, {"a": 1.0})
        assert "is being trained by another process" in second_process(run.run_dir)
    assert second_process(tmp_path / "r") == "locked"  # released when the loop ends


def G():
    return torch.nn.Linear(2, 2)


def D():
    return torch.nn.Linear(2, 1)


KW = dict(G=G, D=D, data="ring8", steps=4, batch_size=8, metrics_every=2, checkpoint_every=2, image_every=-1,
          name="own", progress=False, device="cpu")


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    assert mixgan.train_gan(**KW, dir=root)["status"] == "completed"
    return root / "own"


def edited(own, tmp_path, config=None, checkpoint=None):
    run = tmp_path / "own"
    shutil.copytree(own, run)
    if config is not None:
        data = yaml.safe_load((run / "config.yaml").read_text())
        config(data)
        (run / "config.yaml").write_text(yaml.safe_dump(data))
    if checkpoint is not None:
        state = torch.load(run / CHECKPOINT, weights_only=True)
        state["step"] = 2
        checkpoint(state)
        torch.save(state, run / CHECKPOINT)
    return run


@pytest.mark.parametrize("config,checkpoint,error,fragment", [
    (lambda c: c["train"].update(steps="9"), None, ConfigError, "the run's train.steps is '9'"),
    (None, lambda s: s["trainer"].pop("loss"), CheckpointError, "has no 'loss' section"),
    (None, lambda s: s["trainer"]["opt_D"].pop("state"), CheckpointError, "has no 'opt_D.state' section"),
    (None, lambda s: s.update(trainer=3), CheckpointError, "trainer is a int"),
    (None, lambda s: s.update(config=[1]), CheckpointError, "has no config mapping (got list)"),
])
def test_train_gan_resume_of_an_edited_run_dir_is_one_line(own, tmp_path, config, checkpoint, error,
                                                          fragment):
    run = edited(own, tmp_path, config, checkpoint)
    with pytest.raises(error) as err:
        mixgan.train_gan(**{**KW, "steps": 6}, dir=tmp_path, resume=run)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert max(json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()) == 4


def test_train_gan_resume_of_a_command_run_dir_is_one_line(tmp_path):
    from mixgan.train import main

    assert main(["--model.hidden=16", "--train.iterations=4", "--metrics.every=2",
                 "--metrics.n_samples=100", "--metrics.image_every=0", "--run.progress=false",
                 f"--run.dir={tmp_path}", "--run.name=cmd"]) == 0
    with pytest.raises(ConfigError, match=r"not a train_gan run \(task 'gan'\).*mixgan.train --resume"):
        mixgan.train_gan(**KW, dir=tmp_path, resume=tmp_path / "cmd")


def lecam():
    return mixgan.GANLoss(mixgan.ERM(), stabilizers=[mixgan.LeCam(weight=0.5)])


@pytest.mark.parametrize("state,fragment", [
    (lambda: mixgan.GANLoss().state_dict(), "keys []; accepted: ['lecam.anchors', 'lecam.last']"),
    (lambda: {k: torch.zeros(3, 3) for k in lecam().state_dict()},
     "lecam.anchors is a torch.float32 tensor of shape (3, 3)"),
    (lambda: {k: "x" for k in lecam().state_dict()}, "lecam.anchors is a str"),
    (lambda: None, "got a NoneType"),
    (lambda: [1, 2], "got a list"),
])
def test_ganloss_load_state_dict_of_another_configuration_is_one_line_and_changes_nothing(state, fragment):
    loss = lecam()
    before = loss.state_dict()
    with pytest.raises(ConfigError) as err:
        loss.load_state_dict(state())
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert all(torch.equal(v, loss.state_dict()[k]) for k, v in before.items())
