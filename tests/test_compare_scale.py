"""compare at scale (issue 35, item 4): runs are read one at a time and kept compact, with the same table
and curves as before; reading is bounded in memory. Synthetic run dirs: mixgan/benchmarks/compare_scale.py.

tests/data/compare_300_runs.{md,csv} and compare_300_runs_curves.json were written by compare before
runs were streamed (commit 6ee5a95), on make_runs(300, iterations=1000): the group rows, not the
reference rows (scored by torch, which may round differently on other CPU kernels).
"""

import json
import tracemalloc
from pathlib import Path

import pytest

from mixgan.benchmarks.compare_scale import make_runs
from mixgan.compare import compare, group_runs, main
from mixgan.report.plots_compare import band
from mixgan.report.runs import Run, at_step, iter_runs, load_run, load_runs
from mixgan.report.tensorboard import metric_tags
from mixgan.rundir.validate import read_run_dir

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def runs300(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale") / "runs"
    make_runs(root, 300, iterations=1000)
    return root


def _group_lines(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(("| reference:", '"reference:'))]
    end = next((i for i, line in enumerate(lines) if line.startswith("Against uniform")), len(lines))
    return "\n".join(lines[:end]).strip() + "\n"


def test_the_streamed_table_is_the_one_before(runs300, tmp_path):
    compare([runs300], tmp_path / "out", plots=False, tensorboard=False)
    for ext in ("md", "csv"):
        got = _group_lines((tmp_path / "out" / f"table.{ext}").read_text())
        assert got == (DATA / f"compare_300_runs.{ext}").read_text()


def test_the_curves_are_the_ones_before(runs300):
    # curves.png and the TensorBoard runs draw band() of every tag metric_tags lists
    want = json.loads((DATA / "compare_300_runs_curves.json").read_text())
    got = {g.label: {t: [list(map(float, a)) for a in band(g.runs, t)] for t in metric_tags(g.runs)}
           for g in group_runs(load_runs([runs300]))}
    assert got == want


def test_a_run_keeps_its_rows_numbers_exactly(runs300):
    path = next(runs300.glob("*/*-s3"))
    _, rows, summary = read_run_dir(path)
    run = load_run(path)
    assert run.tags() == list(dict.fromkeys(k for r in rows for k in r if k not in ("step", "time")))
    for tag in run.tags():
        assert run.series(tag) == [(r["step"], float(r[tag])) for r in rows if tag in r]
    assert run.rows == [{k: v for k, v in r.items() if k != "time"} for r in rows]
    assert run.final == {k: float(v) for k, v in summary["final"].items()}
    assert set(run.summary) <= {"status", "step", "total", "diverged_at", "final"}  # not health, versions
    assert run.last_step == rows[-1]["step"]


def test_step_cuts_as_read_like_at_step(runs300):
    path = next(runs300.glob("*/*-s5"))
    cut, old = load_run(path, step=400), at_step(load_run(path), 400)
    assert (cut.status, cut.final, cut.rows, cut.summary) == (old.status, old.final, old.rows, old.summary)
    assert load_run(path, step=401).status == "incomplete"


def test_a_run_without_summary_reads_its_last_row():
    rows = [{"step": 1, "a": 1.0, "time": 3.0}, {"step": 2, "a": 2.0, "time": 4.0}]
    run = Run(Path("r"), {}, rows, {})
    assert run.status == "incomplete" and run.final == {"a": 2.0, "time": 4.0}  # as before: the row
    assert run.series("a") == [(1, 1.0), (2, 2.0)] and run.series("b") == []


def test_reading_300_runs_is_bounded_in_memory(runs300):
    # Peak Python allocations while reading 300 runs one at a time. Before, a run's rows as dicts and its
    # whole summary cost about 70 KiB (300 runs: ~20 MiB held), and each metrics.jsonl read reserved a
    # 1 GiB buffer (its size limit). Kept compact (10 rows x 17 tags as arrays, the dotted config, five
    # summary fields), a run is about 11 KiB here: 300 within 5 MiB (17 KiB a run, so 10,000 runs hold
    # under 170 MiB beside the ~550 MiB of torch and matplotlib), and reading one more costs under 2 MiB.
    load_runs([next(runs300.glob("*/*-s0"))])  # imports and caches out of the measurement
    tracemalloc.start()
    try:
        runs = load_runs([runs300])
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(runs) == 300
    assert held < 5 * 2**20, f"{held / 2**20:.1f} MiB held"
    assert peak - held < 2 * 2**20, f"{peak / 2**20:.1f} MiB peak, {held / 2**20:.1f} MiB held"


def test_progress_bar_on_stderr_only_when_asked(runs300, capsys):
    list(iter_runs([runs300 / "ring8-erm"], progress=True))
    err = capsys.readouterr().err
    assert "reading runs" in err and "/75 [" in err  # cleared at the end (leave=False)
    list(iter_runs([runs300 / "ring8-erm"]))  # None: only on a terminal (pytest's stderr is not)
    assert capsys.readouterr().err == ""


def test_no_progress_flag(runs300, tmp_path, capsys):
    assert main([str(runs300 / "ring8-erm"), "--out", str(tmp_path / "o"), "--no-plots", "--no-tensorboard",
                 "--no-progress"]) == 0
    assert "reading runs" not in capsys.readouterr().err


def test_reading_a_small_file_reserves_its_size_not_the_limit(tmp_path):
    from mixgan.config.untrusted import read_bytes

    (tmp_path / "f").write_bytes(b"x" * 1000)
    tracemalloc.start()
    try:
        assert read_bytes(tmp_path / "f", 2**30) == b"x" * 1000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.0f} MiB reserved for 1,000 bytes"


def test_configs_that_differ_in_their_seed_parse_as_each_alone(tmp_path):
    import yaml

    from mixgan.rundir.validate import _parse_config

    text = (DATA.parent.parent / "configs" / "gan" / "default.yaml").read_text()
    for seed in (7, 0, 123456789):
        mine = text.replace("seed: 0\n", f"seed: {seed}\n")
        data = _parse_config(tmp_path / "c.yaml", mine)
        assert data == yaml.safe_load(mine) and data["seed"] == seed
        data["data"]["name"] = "changed"  # each run its own copy
    # a look-alike line inside a flow mapping is not the top-level seed
    tricky = "data: {name: ring8,\nseed: 5}\nseed:  3\n"
    assert _parse_config(tmp_path / "c.yaml", tricky) == {"data": {"name": "ring8", "seed": 5}, "seed": 3}
    from mixgan.errors import ConfigError

    with pytest.raises(ConfigError, match="duplicate key 'seed'"):
        _parse_config(tmp_path / "c.yaml", "seed: 1\ntask: gan\nseed: 2\n")
