"""The lines that end a training job: the other objective to compare against, and what a seed's time is."""

import json
import shlex

import pytest

from mixgan.train import main

from runhelp import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = [*TINY, "--train.iterations=20", "--metrics.image_every=0"]


def hint(out, label):
    (line,) = [ln.strip() for ln in out.splitlines() if ln.strip().startswith(label)]
    return line[len(label):].strip()


def test_a_run_ends_with_the_command_for_the_other_objective(tmp_path, capsys):
    assert main([*SHORT, f"--run.dir={tmp_path}", "--run.name=mine", "--mixup"]) == 0
    out = capsys.readouterr().out
    command = hint(out, "against erm:")
    # Everything but the objective and the run name is kept, so the two runs differ only in the objective.
    assert shlex.split(command) == ["python", "-m", "mixgan.train", *SHORT, f"--run.dir={tmp_path}"]
    assert hint(out, "then:") == f"tensorboard --logdir {tmp_path}"
    assert main(shlex.split(command)[3:]) == 0  # the hint's command runs: the ERM twin
    assert "against mixup:" in capsys.readouterr().out
    assert (tmp_path / "grid25-erm-s0" / "summary.json").is_file()


def test_seeds_end_with_the_other_group_and_say_their_time_is_the_stacks(tmp_path, capsys):
    assert main([*SHORT, f"--run.dir={tmp_path}", "--seeds", "0-1"]) == 0
    out = capsys.readouterr().out
    group = tmp_path / "grid25-erm"
    assert shlex.split(hint(out, "against mixup:")) == ["python", "-m", "mixgan.train", *SHORT,
                                                        f"--run.dir={tmp_path}", "--seeds", "0-1", "--mixup"]
    assert hint(out, "then:") == f"python -m mixgan.compare {group} {tmp_path / 'grid25-mixup'}"
    # The two seeds trained as one stack: the time column says so, and seeds.json records the stack.
    assert "stack time (s)" in out and "stack time: the wall time of the whole stack" in out
    recorded = json.loads((group / "seeds.json").read_text())
    assert [r["stack_members"] for r in recorded["runs"]] == [2, 2]
    # Once the other group exists, the hint compares with it.
    assert main([*SHORT, f"--run.dir={tmp_path}", "--seeds", "0-1", "--mixup"]) == 0
    line = hint(capsys.readouterr().out, "against erm:")
    assert line.startswith(f"python -m mixgan.compare {tmp_path / 'grid25-mixup'} {group}  (to train it")
