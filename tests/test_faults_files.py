"""Files that used to fail late or in a traceback (issue 35, item 3): an output of the run dir that cannot
be written is refused before the first iteration, a checkpoint missing one of its sections is one line
naming it, and compare refuses a metrics row whose step lies beyond the run's length."""

import json
import os
import shutil

import pytest
import torch

from mixgan.compare import main as compare_main
from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import main
from mixgan.trainers.gan import GanTrainer

from runhelp import rows, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def assert_one_line(capsys, fragment):
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """One finished 40-iteration run (checkpoint at step 40), copied by each test that edits it; on one
    thread like the tests that resume it (a module fixture is built before the one_thread fixture runs,
    and the thread count changes the last bits)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tmp_path_factory.mktemp("done"))
    finally:
        torch.set_num_threads(n)


def copy_of(done, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(done, run)
    return run


def count_iterations(monkeypatch):
    calls, advance = [], GanTrainer.advance

    def counted(self):
        calls.append(self.step)
        advance(self)

    monkeypatch.setattr(GanTrainer, "advance", counted)
    return calls


@pytest.mark.parametrize("name", ["summary.json", "final_samples.npy", "samples.png", "metrics.jsonl"])
def test_an_output_replaced_by_a_folder_is_refused_before_the_first_iteration(done, tmp_path, monkeypatch,
                                                                              capsys, name):
    # Extending a finished run whose summary.json is now a folder used to train all 20 iterations and
    # lose the run's end; now nothing trains and nothing of the run changes.
    run = copy_of(done, tmp_path)
    before = rows(run) if name != "metrics.jsonl" else None
    (run / name).unlink()
    (run / name).mkdir()
    calls = count_iterations(monkeypatch)
    capsys.readouterr()
    assert main(["--resume", str(run), "--train.iterations=60", "--run.progress=false"]) == 2
    assert_one_line(capsys, f"{run / name}: is a folder")
    assert calls == [] and load_checkpoint(run / CHECKPOINT)["step"] == 40
    if before is not None:
        assert rows(run) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_metrics_file_that_cannot_be_appended_to_is_refused_before_training(done, tmp_path, monkeypatch,
                                                                              capsys):
    run = copy_of(done, tmp_path)
    (run / "metrics.jsonl").chmod(0o444)
    calls = count_iterations(monkeypatch)
    capsys.readouterr()
    assert main(["--resume", str(run), "--train.iterations=60", "--run.progress=false"]) == 2
    assert_one_line(capsys, "metrics.jsonl cannot be written")
    assert calls == []


def test_the_library_checks_its_outputs_before_training_too(tmp_path):
    # train_gan(resume=...) reaches the same check in the loop, before any iteration.
    import mixgan
    from mixgan.errors import ConfigError

    def G():
        return torch.nn.Linear(2, 2)

    def D():
        return torch.nn.Linear(2, 1)

    kw = dict(G=G, D=D, data="ring8", steps=4, batch_size=8, metrics_every=2, checkpoint_every=2,
              image_every=-1, dir=tmp_path, name="own", progress=False, device="cpu")
    assert mixgan.train_gan(**kw)["status"] == "completed"
    run = tmp_path / "own"
    (run / "summary.json").unlink()
    (run / "summary.json").mkdir()
    with pytest.raises(ConfigError, match="summary.json: is a folder"):
        mixgan.train_gan(**{**kw, "steps": 6}, resume=run)
    assert load_checkpoint(run / CHECKPOINT)["step"] == 4 and max(r["step"] for r in rows(run)) == 4


@pytest.mark.parametrize("section", [("trainer",), ("trainer", "opt_G", "state"), ("trainer", "rng", "gen"),
                                     ("trainer", "D", "0.weight"), ("trainer", "window")])
def test_a_checkpoint_missing_a_section_is_one_line_naming_it(done, tmp_path, capsys, section):
    # `trainer` missing was a KeyError traceback; an optimizer without its `state` (Adam's moments)
    # resumed silently with other numbers.
    run = copy_of(done, tmp_path)
    state = torch.load(run / CHECKPOINT, weights_only=True)
    state["step"] = 20  # as if stopped at its periodic checkpoint: the resume would train
    parent = state
    for key in section[:-1]:
        parent = parent[key]
    del parent[section[-1]]
    torch.save(state, run / CHECKPOINT)
    capsys.readouterr()
    assert main(["--resume", str(run), "--run.progress=false"]) == 2
    name = section[-1] if len(section) == 1 else ".".join(section[1:])
    assert_one_line(capsys, f"has no '{name}' section")


def test_a_checkpoint_with_every_section_still_resumes_exactly(done, tmp_path, monkeypatch):
    # The check compares sections, not values: a checkpoint mixgan wrote (without the optional
    # `batches`, as earlier versions wrote it) resumes to the uninterrupted rows.
    from runhelp import ctrl_c_at

    whole = rows(done)
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    assert main(["--model.hidden=32", "--train.iterations=40", "--metrics.every=10",
                 "--metrics.image_every=20", "--metrics.n_samples=200", "--run.progress=false",
                 "--run.checkpoint_every=20", f"--run.dir={tmp_path}", "--run.name=cut"]) == 130
    restore()
    cut = tmp_path / "cut"
    state = torch.load(cut / CHECKPOINT, weights_only=True)
    del state["trainer"]["batches"]
    torch.save(state, cut / CHECKPOINT)
    assert main(["--resume", str(cut), "--run.progress=false"]) == 0
    assert rows(cut) == whole


def test_compare_refuses_a_row_beyond_the_runs_length(done, tmp_path, capsys):
    run = copy_of(done, tmp_path / "runs")
    last = rows(run)[-1]
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({**last, "step": 4000}) + "\n")
    capsys.readouterr()
    assert compare_main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-plots",
                         "--no-tensorboard"]) == 2
    assert_one_line(capsys, "step 4000 lies beyond the run's length 40")
    # the same row within the length is read
    text = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(text[:-1]) + "\n")
    assert compare_main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-plots",
                         "--no-tensorboard"]) == 0


def test_a_run_written_before_a_plugin_existed_resumes(tmp_path):
    # config.yaml of an older mixgan lacks a plugin's section that the checkpoint (written by a newer
    # one, on an earlier resume) holds at its default: the same run, so it resumes (it used to be
    # refused as "not this run's").
    import yaml

    from mixgan.train import main

    from runhelp import rows, train

    whole = rows(train(tmp_path, name="whole"))
    run = train(tmp_path, "--train.iterations=20", name="old")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["stabilizers"].pop("lecam")  # as a version without LeCam wrote it
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["--resume", str(run), "--train.iterations=40", "--run.progress=false"]) == 0
    # the continuation equals the uninterrupted run (the short run's own last row keeps its final_large/*)
    assert [r for r in rows(run) if r["step"] > 20] == [r for r in whole if r["step"] > 20]
