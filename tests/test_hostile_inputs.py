"""Hostile but realistic input (issue 15): every case is one line on stderr, exit code 2, no
traceback, and nothing written when it is refused before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixgan.train import main

from runhelp import TINY


def one_line(capsys, fragment: str) -> str:
    """stderr of the call just made: exactly one line, holding `fragment`, no traceback."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err
    return err


def nothing_in(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# --- config files ----------------------------------------------------------------------------------

CONFIG_FILES = [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a text file (not UTF-8)"),
    (b"train:\n  iterations: 5\n1: x\n", "config key 1 is not a name (int)"),
    (b"seed: 18446744073709551616\n", "seed: got 18446744073709551616; accepted: an integer that fits"),
    (b"train:\n  lr: 0.1\n  batch_size: 4\n  lr: 0.2\n", "not valid YAML (line 4): duplicate key 'lr'"),
    (b"data:\n  std: .inf\n", "data.std: expected a finite number, got inf"),
    (b"data:\n  radius: .nan\n", "data.radius: expected a finite number, got nan"),
    (b"train:\n  lr: 1e400\n", "train.lr: expected a finite number"),
    (b"model:\n  hidden: 1" + b"0" * 400 + b"\n", "c.yaml (line 2): an integer of 401 digits"),
]


@pytest.mark.parametrize(("text", "fragment"), CONFIG_FILES)
def test_bad_config_file_is_one_line(tmp_path, capsys, text, fragment):
    (tmp_path / "c.yaml").write_bytes(text)
    assert main([f"--config={tmp_path / 'c.yaml'}", f"--run.dir={tmp_path / 'runs'}"]) == 2
    one_line(capsys, fragment)
    assert nothing_in(tmp_path / "runs")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--seed=18446744073709551616"], "seed: got 18446744073709551616"),
    (["--train.lr=.inf"], "train.lr: expected a finite number"),
    (["--data.std=.nan"], "data.std: expected a finite number"),
])
def test_bad_values_on_the_command_line(tmp_path, capsys, args, fragment):
    assert main([f"--run.dir={tmp_path / 'runs'}", *args]) == 2
    one_line(capsys, fragment)
    assert nothing_in(tmp_path / "runs")


def test_empty_config_file_says_all_defaults_are_used(tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("# nothing here\n")
    assert main([*TINY, f"--config={tmp_path / 'empty.yaml'}", f"--run.dir={tmp_path}", "--run.name=r"]) == 0
    one_line(capsys, "sets nothing: all defaults are used")
    assert (tmp_path / "r" / "summary.json").is_file()


# --- sizes the machine cannot hold ----------------------------------------------------------------

@pytest.mark.parametrize(("arg", "fragment"), [
    ("--model.hidden=1000000000", "model.hidden/model.depth: this run needs about"),
    ("--model.depth=100000", "model.hidden/model.depth: this run needs about"),
    ("--train.batch_size=1000000000", "train.batch_size: this run needs about"),
    ("--metrics.n_samples=1000000000", "metrics.n_samples: this run needs about"),
])
@pytest.mark.parametrize("seeds", [[], ["--seeds=0-1"]])
def test_sizes_that_do_not_fit_are_refused_before_anything_is_written(tmp_path, capsys, arg, fragment, seeds):
    assert main([f"--run.dir={tmp_path / 'runs'}", "--device=cpu", arg, *seeds]) == 2
    err = one_line(capsys, fragment)
    assert "free; accepted: smaller sizes" in err
    assert nothing_in(tmp_path / "runs")


def test_the_estimate_grows_with_every_size_and_fits_the_main_job():
    import torch

    from mixgan.config.core import load_config
    from mixgan.experiments.fits import available_bytes, toy_gan_bytes

    base, _ = toy_gan_bytes(load_config())
    assert base < 256 * 2**20 < available_bytes(torch.device("cpu"))  # the main job: < 256 MiB
    for key in ("model.hidden", "model.depth", "train.batch_size", "metrics.n_samples"):
        bigger, _ = toy_gan_bytes(load_config(overrides=[(key, 100_000)]))
        assert bigger > base, key
    assert toy_gan_bytes(load_config(), members=3)[0] == 3 * base


def test_allocation_failure_building_the_trainer_is_one_line(tmp_path, capsys, monkeypatch):
    # What the estimate cannot see (the image tasks' data, a fragmented GPU): the allocator's error.
    import mixgan.trainers.gan as gan

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:119] DefaultCPUAllocator: not enough memory")

    monkeypatch.setattr(gan, "build_toy_net", no_memory)
    assert main([f"--run.dir={tmp_path / 'runs'}", "--device=cpu"]) == 2
    one_line(capsys, "the run does not fit in cpu memory (RuntimeError: [enforce fail")
    assert nothing_in(tmp_path / "runs")


# --- output paths that are files or cannot be written -------------------------------------------

def _unwritable(tmp_path: Path, kind: str) -> Path:
    """A path the commands cannot write under: a file, a folder below a file, or a read-only place."""
    if kind == "file":
        (tmp_path / "f").write_text("x")
        return tmp_path / "f"
    if kind == "under_file":
        (tmp_path / "f").write_text("x")
        return tmp_path / "f" / "sub"
    import tempfile

    try:  # /sys is read-only, even for root (chmod would not stop root)
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        return Path("/sys/mixgan-runs")
    pytest.skip("no read-only folder on this machine")


KINDS = [("file", "is a file"), ("under_file", "lies under the file"), ("read_only", "cannot be written")]


@pytest.mark.parametrize(("kind", "fragment"), KINDS)
@pytest.mark.parametrize("seeds", [[], ["--seeds=0-1"]])
def test_train_run_dir_not_writable(tmp_path, capsys, kind, fragment, seeds):
    bad = _unwritable(tmp_path, kind)
    assert main([*TINY, f"--run.dir={bad}", *seeds]) == 2
    one_line(capsys, f"run.dir: {bad} {fragment}")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["f"] if kind != "read_only" else [])


@pytest.mark.parametrize(("kind", "fragment"), KINDS)
def test_compare_out_not_writable(tmp_path, capsys, kind, fragment):
    from test_compare import make_run, series

    from mixgan.compare import main as compare_main

    make_run(tmp_path / "runs", "ring8", "erm", 0, series([8], [.9], [.1], [1], [1], [1.0]))
    bad = _unwritable(tmp_path, kind)
    assert compare_main([str(tmp_path / "runs"), f"--out={bad}", "--no-plots"]) == 2
    one_line(capsys, f"--out: {bad} {fragment}")


@pytest.mark.parametrize(("kind", "fragment"), KINDS)
def test_ablate_out_not_writable(tmp_path, capsys, kind, fragment):
    from mixgan.ablate import main as ablate_main

    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: demo\nbase: configs/gan/default.yaml\nvariants:\n  erm: {}\nseeds: [0]\n"
                     "metrics: [quality/modes]\n")
    bad = _unwritable(tmp_path, kind)
    assert ablate_main([str(sweep), f"--out={bad}"]) == 2
    left = ["f", "s.yaml"] if kind != "read_only" else ["s.yaml"]
    one_line(capsys, f"--out: {bad} {fragment}")
    assert sorted(p.name for p in tmp_path.iterdir()) == left


# --- compare on broken run dirs -------------------------------------------------------------------

BROKEN_RUNS = [
    ("summary.json", "[1, 2]", "summary.json: a JSON list, not an object"),
    ("summary.json", '{"status": "completed", "final": {"quality/modes": "eight"}}',
     "summary.json: final 'quality/modes' is 'eight', not a number"),
    ("summary.json", '{"status": "completed", "final": [8]}', "summary.json: 'final' must map"),
    ("summary.json", '{"status": 3, "final": {}}', "'status' be text"),
    ("summary.json", '{"status": "completed", "total": "all", "final": {}}', "'total' is 'all'"),
    ("metrics.jsonl", "[10, 8]\n", "metrics.jsonl: a row is a JSON list, not an object"),
    ("metrics.jsonl", '{"quality/modes": 8}\n', "metrics.jsonl: row 1: no integer 'step'"),
    ("metrics.jsonl", '{"step": 10, "quality/modes": [8]}\n', "row 1: 'quality/modes' is [8]"),
    ("config.yaml", "- a list\n", "config.yaml: not a config mapping"),
]


@pytest.mark.parametrize(("name", "text", "fragment"), BROKEN_RUNS)
def test_compare_names_the_broken_file(tmp_path, capsys, name, text, fragment):
    from test_compare import make_run, series

    from mixgan.compare import main as compare_main

    make_run(tmp_path / "runs", "ring8", "erm", 0, series([8], [.9], [.1], [1], [1], [1.0]))
    make_run(tmp_path / "runs", "ring8", "erm", 1, series([8], [.9], [.1], [1], [1], [1.0]))
    (broken,) = [p for p in (tmp_path / "runs").rglob(name) if "s1" in str(p)]
    broken.write_text(text)
    assert compare_main([str(tmp_path / "runs"), f"--out={tmp_path / 'out'}", "--no-plots"]) == 2
    err = one_line(capsys, fragment)
    assert str(broken.parent) in err and not (tmp_path / "out").exists()


# --- a learning rate whose update overflows ----------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_classifier_lr_1e38_is_a_diverged_run(tmp_path, capsys, optimizer):
    import json

    args = ["--task=classify", "--data.name=iris", "--model.name=mlp", "--model.hidden=8", "--train.epochs=3",
            "--train.batch_size=32", "--run.progress=false", f"--train.optimizer={optimizer}",
            "--train.lr=1e38", f"--run.dir={tmp_path}", "--run.name=r"]
    assert main(args) == 0
    assert "Traceback" not in capsys.readouterr().err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 1


def test_step_or_diverge_raises_other_errors():
    import torch

    from mixgan.trainers.classifier import step_or_diverge

    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.ones(3)
    assert step_or_diverge(torch.optim.Adam([w], lr=1e38)) is False and torch.isnan(w).all()
    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.ones(3)
    assert step_or_diverge(torch.optim.Adam([w], lr=0.5)) is True and torch.allclose(w, torch.full((3,), 0.5))
    bad = torch.optim.Adam([w], lr=0.5)
    bad.step = lambda: (_ for _ in ()).throw(RuntimeError("CUDA error: device-side assert"))
    with pytest.raises(RuntimeError, match="device-side"):
        step_or_diverge(bad)
