"""scripts/figure5.py: snapshots leave training unchanged; the figure and the table are written."""

import importlib.util
from pathlib import Path

import numpy as np

from runhelp import TINY, rows, train

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "figure5.py"
SHORT = ["--train.iterations=20", "--metrics.image_every=0"]


def load_script():
    spec = importlib.util.spec_from_file_location("figure5", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_snapshots_do_not_change_the_run(tmp_path):
    fig5 = load_script()
    from mixgan.config.core import load_config

    overrides = fig5.parse_overrides([*TINY, *SHORT, f"--run.dir={tmp_path}", "--run.name=snap"])
    cfg = load_config(None, overrides)
    run_dir, snaps = fig5.train_with_snapshots(cfg, [1, 5, 20])
    assert sorted(snaps) == [1, 5, 20] and snaps[5].shape == (512, 2)
    assert sorted(np.load(run_dir / fig5.SNAPSHOTS).files) == ["it1", "it20", "it5"]
    # The last snapshot is the trainer's own final fixed-noise sample, and the metrics are a plain run's.
    np.testing.assert_array_equal(snaps[20], np.load(run_dir / "final_samples.npy"))
    assert rows(run_dir) == rows(train(tmp_path, *SHORT, name="plain"))


def test_figure_and_table_written(tmp_path, capsys):
    fig5 = load_script()
    out = tmp_path / "f5"
    png = tmp_path / "docs" / "f.png"
    args = ["--iterations", "2,4", "--data", "ring8", "--out", str(out), "--png", str(png),
            "--model.hidden=16", "--metrics.every=2", "--metrics.n_samples=100", "--metrics.image_every=0",
            "--run.progress=false"]
    assert fig5.main(args) == 0
    assert (out / "figure5.png").read_bytes()[:4] == b"\x89PNG"
    assert png.read_bytes() == (out / "figure5.png").read_bytes()
    table = (out / "table.md").read_text()
    assert "| erm |" in table and "| mixup |" in table  # the groups, by their readable labels
    assert fig5.main(args) == 2  # the runs exist: never overwritten
    assert "already exists" in capsys.readouterr().err
    png.unlink()
    assert fig5.main([*args, "--redraw"]) == 0 and png.is_file()  # from the saved snapshots, no training
    assert fig5.main([*args, "--redraw", "--out", str(tmp_path / "none")]) == 2
