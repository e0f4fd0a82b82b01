"""Hostile files (issue 25): each class of untrusted input (file kind, size, encoding, YAML/JSON limits,
foreign run dirs, checkpoints, paths, conflicting flags) through every command that reads it: one
line on stderr, exit 2, no traceback, nothing written, within seconds (a FIFO under an alarm, so a
regression fails instead of hanging)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mixgan.ablate import main as ablate_main
from mixgan.compare import main as compare_main
from mixgan.train import main as train_main

from runhelp import TINY

DEEP_YAML = "a: " + "[" * 3000 + "]" * 3000 + "\n"
BIG_INT_YAML = "train:\n  iterations: " + "9" * 5000 + "\n"
RECURSIVE_YAML = "a: &a [1, *a]\n"


def bomb_yaml(keys: str = "") -> str:
    """A billion-laughs document: 9 levels of 9 aliases to the level below (9**9 values expanded)."""
    text, prev = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n', "l0"
    for i in range(1, 10):
        text += f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = f"l{i}"
    return text + keys


@pytest.fixture(autouse=True)
def within_seconds() -> Iterator[None]:
    """A test that blocks (a FIFO opened) fails after 60 s instead of hanging the suite."""
    def hang(signum, frame):
        raise TimeoutError("hung: a FIFO or a device was read")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def one_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def make_hostile(path: Path, kind: str) -> str:
    """Turn `path` into a hostile file of `kind`; the fragment of the one line expected."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
        return "is a FIFO; accepted: a regular file"
    if kind == "device":
        path.symlink_to("/dev/zero")
        return "is a device; accepted: a regular file"
    if kind == "folder":
        path.mkdir()
        return "is a folder; accepted: a regular file"
    if kind == "not_utf8":
        path.write_bytes(b"\xff\xfe\x00garbage\x89")
        return "not a text file (not UTF-8)"
    raise ValueError(kind)


FILE_KINDS = ["fifo", "device", "folder", "not_utf8"]

# --- configs, sweep files and the command line --------------------------------------------------------

YAML_LIMITS = [
    (DEEP_YAML, "(line 1): nested deeper than 64 levels"),
    (BIG_INT_YAML, "(line 2): an integer of 5000 digits; accepted: at most 100 digits"),
    (bomb_yaml(), "more than 1,000,000 values with its aliases expanded"),
    (bomb_yaml("train: {iterations: *l9}\n"), "more than 1,000,000 values"),
    (RECURSIVE_YAML, "a recursive alias"),
    ("train: &t {iterations: *t}\n", "a recursive alias"),
]


@pytest.mark.parametrize(("text", "fragment"), YAML_LIMITS)
def test_config_file_past_a_yaml_limit(tmp_path, capsys, text, fragment):
    (tmp_path / "c.yaml").write_text(text)
    assert train_main([f"--config={tmp_path / 'c.yaml'}", f"--run.dir={tmp_path / 'runs'}"]) == 2
    one_line(capsys, "c.yaml", fragment)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_config_file_of_the_wrong_kind(tmp_path, capsys, kind):
    fragment = make_hostile(tmp_path / "c.yaml", kind)
    assert train_main([f"--config={tmp_path / 'c.yaml'}", f"--run.dir={tmp_path / 'runs'}"]) == 2
    one_line(capsys, "c.yaml", fragment)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("text", "fragment"), [("task: [gan]\n", "task: unknown task ['gan']"),
                                                ("task: {a: 1}\n", "task: unknown task {'a': 1}")])
def test_task_that_is_not_a_name(tmp_path, capsys, text, fragment):
    (tmp_path / "c.yaml").write_text(text)
    assert train_main([f"--config={tmp_path / 'c.yaml'}", f"--run.dir={tmp_path / 'runs'}"]) == 2
    one_line(capsys, fragment)


@pytest.mark.parametrize(("arg", "fragment"), [
    ("--train.iterations=" + "9" * 5000, "--train.iterations (line 1): an integer of 5000 digits"),
    ("--train.iterations=" + "[" * 500 + "]" * 500, "--train.iterations (line 1): nested deeper than 64"),
])
def test_command_line_value_past_a_limit(tmp_path, capsys, arg, fragment):
    assert train_main([arg, f"--run.dir={tmp_path / 'runs'}"]) == 2
    one_line(capsys, fragment)
    assert not (tmp_path / "runs").exists()


SWEEP = "name: demo\nbase: configs/gan/default.yaml\nvariants:\n  erm: {}\nseeds: [0]\n"


@pytest.mark.parametrize(("text", "fragment"), [
    (SWEEP + "grid: {train.lr: *l9}\n", "more than 1,000,000 values"),
    (SWEEP.replace("name: demo", "name: demo\ndescription: *l9"), "more than 1,000,000 values"),
    (SWEEP + "overrides: &o {x: *o}\n", "a recursive alias"),
    (SWEEP + "grid: {train.lr: " + "[" * 200 + "]" * 200 + "}\n", "nested deeper than 64 levels"),
    (SWEEP + "overrides: {train.iterations: " + "9" * 5000 + "}\n", "an integer of 5000 digits"),
])
def test_sweep_file_past_a_yaml_limit(tmp_path, capsys, text, fragment):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(bomb_yaml() + text if "*l9" in text else text)
    assert ablate_main([str(sweep), f"--out={tmp_path / 'out'}"]) == 2
    one_line(capsys, "s.yaml", fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_sweep_file_of_the_wrong_kind(tmp_path, capsys, kind):
    fragment = make_hostile(tmp_path / "s.yaml", kind)
    assert ablate_main([str(tmp_path / "s.yaml"), f"--out={tmp_path / 'out'}"]) == 2
    one_line(capsys, "s.yaml", fragment)
    assert not (tmp_path / "out").exists()


# --- compare on run dirs it did not write -------------------------------------------------------------

def two_runs(tmp_path: Path) -> Path:
    """Two seeds of one experiment, as mixgan.train writes them; returns seed 1's run dir."""
    from test_compare import make_run, series

    for seed in (0, 1):
        make_run(tmp_path / "runs", "ring8", "erm", seed, series([8], [.9], [.1], [1], [1], [1.0]))
    (run,) = [p.parent for p in (tmp_path / "runs").rglob("config.yaml") if "s1" in str(p)]
    return run


def compare_refuses(tmp_path: Path, capsys, *fragments: str, extra: tuple[str, ...] = ("--no-plots",)) -> str:
    assert compare_main([str(tmp_path / "runs"), f"--out={tmp_path / 'out'}", *extra]) == 2
    err = one_line(capsys, *fragments)
    assert not (tmp_path / "out").exists()
    return err


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("name", ["summary.json", "metrics.jsonl", "config.yaml"])
def test_compare_run_file_of_the_wrong_kind(tmp_path, capsys, name, kind):
    run = two_runs(tmp_path)
    if kind == "folder" and name == "config.yaml":
        pytest.skip("a folder named config.yaml is not a run dir: compare does not look at it")
    fragment = make_hostile(run / name, kind)
    compare_refuses(tmp_path, capsys, f"{run / name}: {fragment}")


FOREIGN_RUNS = [
    ("config.yaml", "seed: abc\n", "config.yaml: seed: expected int, got 'abc'"),
    ("config.yaml", "seed: null\n", "config.yaml: seed: expected int, got None"),
    ("config.yaml", "train: {iterations: [1, 2]}\n", "config.yaml: train.iterations: expected int"),
    ("config.yaml", "objective: {name: [erm]}\n", "config.yaml: objective.name: expected str"),
    ("config.yaml", "data: {name: {a: 1}}\n", "config.yaml: data.name: expected str"),
    ("config.yaml", "data: {spacing: wide}\n", "config.yaml: data.spacing: expected float"),
    ("config.yaml", "stabilizers: {gp: 3}\n", "config.yaml: stabilizers.gp: expected Penalty, got 3"),
    ("config.yaml", "task: [gan]\n", "config.yaml: task: unknown task ['gan']"),
    ("config.yaml", DEEP_YAML, "config.yaml (line 1): nested deeper than 64 levels"),
    ("config.yaml", bomb_yaml(), "config.yaml (line 7): more than 1,000,000 values"),
    ("config.yaml", "seed: " + "9" * 5000 + "\n", "config.yaml (line 1): an integer of 5000 digits"),
    ("summary.json", '{"status": "completed", "total": ' + "9" * 99 + ', "final": {}}', "'total' is 99"),
    ("summary.json", '{"status": "completed", "total": ' + "9" * 5000 + ', "final": {}}',
     "summary.json: not valid JSON (ValueError: an integer of 5000 digits"),
    ("summary.json", '{"status": "completed", "final": {"quality/modes": ' + "9" * 99 + "}}",
     "final 'quality/modes' is 99"),
    ("summary.json", "[" * 5000 + "]" * 5000, "summary.json: nested deeper than 64 levels"),
    ("summary.json", '{"status": "completed", "step": -3, "final": {}}', "'step' is -3"),
    ("metrics.jsonl", '{"step": ' + "9" * 99 + ', "quality/modes": 8}\n{"step": 1}\n', "row 1: 'step' is 99"),
    ("metrics.jsonl", '{"step": ' + "9" * 999 + '}\n{"step": 1}\n', "row 1: not valid JSON (ValueError"),
    ("metrics.jsonl", '{"step": -1, "quality/modes": 8}\n', "row 1: 'step' is -1"),
    ("metrics.jsonl", '{"step": 1, "quality/modes": "many"}\n{"step": 2}\n', "row 1: 'quality/modes' is"),
    ("metrics.jsonl", "[" * 3000 + "]" * 3000 + "\n{}\n", "metrics.jsonl: row 1: nested deeper than 64"),
]


@pytest.mark.parametrize(("name", "text", "fragment"), FOREIGN_RUNS)
def test_compare_foreign_run_dir_names_file_and_field(tmp_path, capsys, name, text, fragment):
    run = two_runs(tmp_path)
    if name == "config.yaml" and "task" not in text and "line" not in fragment:
        import yaml  # one field edited in the config the run wrote

        edit = yaml.safe_load(text)
        data = yaml.safe_load((run / name).read_text())
        for section, value in edit.items():
            if isinstance(value, dict) and isinstance(data.get(section), dict):
                data[section].update(value)
            else:
                data[section] = value
        text = yaml.safe_dump(data)
    (run / name).write_text(text)
    err = compare_refuses(tmp_path, capsys, fragment)
    assert str(run / name) in err


@pytest.mark.parametrize(("array", "fragment"), [
    ("objects", "not a .npy array of numbers"),
    ("1d", "an array of shape (5,); accepted: 2 dimensions × 2 columns"),
    ("fifo", "is a FIFO"),
])
def test_compare_foreign_final_samples(tmp_path, capsys, array, fragment):
    import numpy as np

    from mixgan.rundir.paths import FINAL_SAMPLES

    run = two_runs(tmp_path)
    np.save(run.parent / run.name.replace("s1", "s0") / FINAL_SAMPLES, np.zeros((5, 2)))
    if array == "objects":
        np.save(run / FINAL_SAMPLES, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif array == "1d":
        np.save(run / FINAL_SAMPLES, np.zeros(5))
    else:
        os.mkfifo(run / FINAL_SAMPLES)
    assert compare_main([str(tmp_path / "runs"), f"--out={tmp_path / 'out'}"]) == 2
    one_line(capsys, str(run / FINAL_SAMPLES), fragment)


def test_ablate_existing_run_with_a_hostile_summary(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP + "metrics: [quality/modes]\n")
    out = tmp_path / "out"
    assert ablate_main([str(sweep), f"--out={out}", "--dry-run"]) in (0, 2)
    capsys.readouterr()
    run = out / "erm__s0"
    run.mkdir(parents=True, exist_ok=True)
    for text, fragment in (("[1, 2]", "a JSON list, not an object"), (None, "is a device")):
        if text is None:
            make_hostile(run / "summary.json", "device")
        else:
            (run / "summary.json").write_text(text)
        before = sorted(p.name for p in out.rglob("*"))
        assert ablate_main([str(sweep), f"--out={out}"]) == 2
        one_line(capsys, str(run / "summary.json"), fragment)
        assert sorted(p.name for p in out.rglob("*")) == before


# --- paths ----------------------------------------------------------------------------------------------

LONG = "x" * 300


@pytest.mark.parametrize(("args", "fragment"), [
    ([f"--run.dir=RUNS/{LONG}"], "run.dir"),
    (["--run.dir=RUNS/a\x00b"], "holds a NUL byte"),
    (["--run.dir=RUNS", f"--run.name={'y' * 250}", "--seeds=0-1"], "run.name: the seed runs would be named"),
    ([f"--resume=RUNS/{LONG}"], "--resume"),
    (["--resume=RUNS/a\x00b"], "--resume"),
])
def test_train_paths_past_the_file_system_limits(tmp_path, capsys, args, fragment):
    args = [a.replace("RUNS", str(tmp_path / "runs")) for a in args]
    assert train_main([*TINY, *args]) == 2
    err = one_line(capsys, fragment)
    assert "NUL" in err or "at most 255 bytes" in err or "at most 128 characters" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("where", ["run", "out"])
def test_compare_paths_past_the_file_system_limits(tmp_path, capsys, where):
    two_runs(tmp_path)
    run, out = (tmp_path / LONG, tmp_path / "out") if where == "run" else (tmp_path / "runs", tmp_path / LONG)
    assert compare_main([str(run), f"--out={out}", "--no-plots"]) == 2
    one_line(capsys, "at most 255 bytes per path component")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("name: demo", f"name: {'d' * 300}", "name: got 'dddddddddddddddddddd… (300 chars)'; accepted"),
    ("erm: {}", f"{'e' * 300}: {{}}", "longer than 128 characters"),
])
def test_ablate_name_past_the_file_system_limits(tmp_path, capsys, old, new, fragment):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.replace(old, new) + "metrics: [quality/modes]\n")
    assert ablate_main([str(sweep), f"--out={tmp_path / 'out'}"]) == 2
    one_line(capsys, fragment)
    assert not (tmp_path / "out").exists()


# --- conflicting flags ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "fragment"), [
    (["--mixup", "--objective.name=erm"], "--mixup: conflicts with --objective.name=erm"),
    (["--mixup", "--objective.name", "erm"], "--mixup: conflicts with --objective.name=erm"),
    (["--resume=RUNS/r", "--config=configs/gan/default.yaml"], "--resume: cannot be combined with --config"),
    (["--resume=RUNS/r", "--task=gan"], "--resume: cannot be combined with --task"),
])
def test_conflicting_flags_are_refused(tmp_path, capsys, args, fragment):
    args = [a.replace("RUNS", str(tmp_path / "runs")) for a in args]
    assert train_main([*TINY, f"--run.dir={tmp_path / 'runs'}", *args]) == 2
    one_line(capsys, fragment)
    assert not (tmp_path / "runs").exists()


# --- resume: checkpoints and run files ------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from runhelp import train

    return train(tmp_path_factory.mktemp("base"), name="r")


def _garble(path: Path) -> str:
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len  # the member's first byte
    data[start + 8: start + 16] = b"\x00\x01\x02\x03\x04\x05\x06\x07"
    path.write_bytes(bytes(data))
    return "fails its CRC check"


def _negative_step(path: Path) -> str:
    import torch

    state = torch.load(path, weights_only=True)
    state["step"] = -5
    torch.save(state, path)
    return "step is -5; accepted: an integer >= 0"


HOSTILE_RESUMES: list[tuple[str, Callable[[Path], str]]] = [
    ("checkpoint.pt", lambda p: (p.write_text("just text\n"), "is truncated or corrupted")[1]),
    ("checkpoint.pt", lambda p: (p.unlink(), p.symlink_to("/etc/passwd"), "is truncated or corrupted")[2]),
    ("checkpoint.pt", _garble),
    ("checkpoint.pt", _negative_step),
    ("checkpoint.pt", lambda p: make_hostile(p, "fifo")),
    ("config.yaml", lambda p: (p.write_text(DEEP_YAML), "nested deeper than 64 levels")[1]),
    ("config.yaml", lambda p: (p.write_text(BIG_INT_YAML), "an integer of 5000 digits")[1]),
    ("metrics.jsonl", lambda p: make_hostile(p, "not_utf8")),
    ("metrics.jsonl", lambda p: make_hostile(p, "device")),
    ("metrics.jsonl", lambda p: make_hostile(p, "fifo")),
    (".lock", lambda p: (p.unlink(), p.mkdir(), "cannot be opened as the run's lock")[2]),
]


@pytest.mark.parametrize(("name", "spoil"), HOSTILE_RESUMES)
def test_resume_of_a_hostile_run_dir(tmp_path, capsys, finished_run, name, spoil):
    run = tmp_path / "r"
    shutil.copytree(finished_run, run, symlinks=True)
    (run / "summary.json").unlink()  # so that the resume reads everything back
    fragment = spoil(run / name)
    before = {p.name: (p.stat().st_mtime_ns if p.is_file() else None) for p in run.iterdir()}
    assert train_main([f"--resume={run}", "--train.iterations=60"]) == 2
    one_line(capsys, name, fragment)
    after = {p.name: (p.stat().st_mtime_ns if p.is_file() else None) for p in run.iterdir()}
    assert after == before
