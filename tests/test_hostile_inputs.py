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
    (b"model:\n  hidden: 1" + b"0" * 400 + b"\n", "model.hidden: got 1000"),
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
