"""What compare's report shows beyond the numbers: TensorBoard group runs, headers, csv cells, pictures."""

import json
import math
import statistics

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.util import tensor_util
from test_compare import make_run, series

from mixgan.compare import compare


@pytest.fixture
def two_groups(tmp_path):
    """ring8 ERM over three seeds (one with a NaN) and ring8 mixup over two, 3 measurements each."""
    root = tmp_path / "runs"
    make_run(root, "ring8", "erm", 0, series([4, 8, 8], [.5, .9, .9], [.3, .1, .1], [1, 2, 3], [10, 20, 30],
                                             [1.0, 0.5, 0.7]))
    make_run(root, "ring8", "erm", 1, series([8, 7, 6], [.9, .7, .6], [.1, .2, .4], [2, 2, 2], [5, 5, 5],
                                             [1.0, 1.0, math.nan]))
    make_run(root, "ring8", "erm", 2, series([2, 5, 3], [.1, .2, .3], [2., 1.5, 1.], [1, 1, 10], [1, 2, 3],
                                             [0.2, 0.4, 0.8]))
    make_run(root, "ring8", "mixup", 0, series([8, 8, 8], [.9, .9, .9], [0., 0., 0.], [1, 1, 1], [1, 1, 1],
                                               [.6, .6, .6]))
    make_run(root, "ring8", "mixup", 1, series([6, 7, 8], [.5, .6, .7], [.5, .4, .3], [2, 3, 4], [4, 5, 6],
                                               [.2, .3, .4]))
    return root


def expected_bands(group_dir):
    """step -> tag -> (median, q25, q75) over the group's seeds, from their metrics.jsonl (finite values)."""
    by = {}
    for mj in sorted(group_dir.glob("*/metrics.jsonl")):
        for line in mj.read_text().splitlines():
            row = json.loads(line)
            for tag, v in row.items():
                if tag != "step" and math.isfinite(float(v)):
                    by.setdefault(tag, {}).setdefault(row["step"], []).append(float(v))
    out = {}
    for tag, steps in by.items():
        for step, vals in steps.items():
            q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
            out.setdefault(tag, {})[step] = (statistics.median(vals), q[0], q[2])
    return out


def test_one_tensorboard_run_per_group_with_median_and_band(two_groups, tmp_path):
    out = tmp_path / "report"
    groups, _, _ = compare([two_groups], out, plots=False)
    assert [g.label for g in groups] == ["erm", "mixup"]
    runs = sorted(p.parent.name for p in out.glob("*/events.out.tfevents.*"))
    assert runs == ["erm", "mixup"]  # TensorBoard's run names: the groups' labels
    for folder, name in (("erm", "ring8-erm"), ("mixup", "ring8-mixup")):
        acc = EventAccumulator(str(out / folder), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        want = expected_bands(two_groups / name)
        assert set(acc.Tags()["scalars"]) == {f"{t}/{s}" for t in want for s in ("median", "q25", "q75")}
        for tag, steps in want.items():
            for i, stat in enumerate(("median", "q25", "q75")):
                got = {e.step: e.value for e in acc.Scalars(f"{tag}/{stat}")}
                assert got == pytest.approx({s: v[i] for s, v in steps.items()}), (folder, tag, stat)
        (event,) = acc.Tensors("custom_scalars__config__")
        layout = layout_pb2.Layout()
        layout.ParseFromString(tensor_util.make_ndarray(event.tensor_proto).item())
        charts = {c.title: c.margin.series[0] for c in layout.category[0].chart}
        assert charts["quality/modes"].value == "quality/modes/median"
        assert (charts["loss/D"].lower, charts["loss/D"].upper) == ("loss/D/q25", "loss/D/q75")
    # The NaN of erm seed 1 at step 300 is left out: the median there is over the two finite values.
    acc = EventAccumulator(str(out / "erm"), size_guidance={"scalars": 0})
    acc.Reload()
    assert {e.step: e.value for e in acc.Scalars("loss/D/median")}[300] == pytest.approx(0.75)
    # A second compare into the same folder replaces the group runs instead of adding to them.
    compare([two_groups], out, plots=False)
    assert len(list((out / "erm").glob("events.out.tfevents.*"))) == 1


def test_no_tensorboard_option(two_groups, tmp_path):
    from mixgan.compare import main

    out = tmp_path / "plain"
    assert main([str(two_groups), "--out", str(out), "--no-plots", "--no-tensorboard"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["table.csv", "table.md"]


def test_header_names_data_set_and_run_length(two_groups, tmp_path, capsys):
    from mixgan.compare import main

    make_run(two_groups, "grid25", "erm", 0, series([1, 2, 3], [.1, .1, .1], [2., 2., 2.], [1, 1, 1],
                                                    [1, 1, 1], [.5, .5, .5]), total=600)
    out = tmp_path / "report"
    assert main([str(two_groups), "--out", str(out), "--no-plots", "--no-tensorboard"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("data: grid25 (25 modes), ring8 (8 modes) · run length: 300, 600 iterations "
                     "(configured) · 6 runs in 3 groups")
    assert (out / "table.md").read_text().splitlines()[0] == first


def test_csv_cell_is_empty_where_markdown_shows_a_dash(two_groups, tmp_path):
    import csv

    # grid25: never all 25 modes (first_all_modes = inf), one seed (no std), a NaN reverse KL at the end.
    make_run(two_groups, "grid25", "erm", 0, series([1, 2, 3], [.1, .1, .1], [2., 2., math.nan], [1, 1, 1],
                                                    [1, 1, 1], [.5, .5, .5]))
    out = tmp_path / "report"
    _, table, text = compare([two_groups], out, plots=False, tensorboard=False)
    md = {line.split(" | ")[0].strip("| "): [c.strip() for c in line.strip("|").split("|")]
          for line in text.splitlines()[4:]}
    rows = {r["group"]: r for r in csv.DictReader((out / "table.csv").open())}
    grid = md["erm, grid25"]
    head = [c.strip() for c in text.splitlines()[2].strip("|").split("|")]
    assert grid[head.index("first it. all modes")] == "—" and grid[head.index("reverse KL")] == "—"
    row = rows["erm, grid25"]
    assert row["first_all_modes"] == "" and row["reverse_kl_mean"] == "" and row["modes_std"] == ""
    assert float(row["modes_mean"]) == 3.0
    csv_text = (out / "table.csv").read_text().lower()
    assert "inf" not in csv_text and "nan" not in csv_text


def test_curves_have_y_labels_and_say_what_line_and_band_are(two_groups):
    from mixgan.compare import group_runs, load_runs
    from mixgan.report.plots_compare import curves_figure

    groups = group_runs(load_runs([two_groups]))
    fig = curves_figure(groups, ["quality/modes", "loss/D", "stability/grad_input_real"])
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == ["modes covered", "loss_D", "‖∂D/∂x‖ at real x"]
    assert "median" in fig._suptitle.get_text() and "25–75 %" in fig._suptitle.get_text()
    texts = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels())]
    assert min(t.get_fontsize() for t in texts if t.get_text()) >= 9


def test_sample_grid_is_legible_at_100_percent(two_groups):
    import numpy as np

    from mixgan.compare import group_runs, load_runs
    from mixgan.report.plots_compare import samples_figure

    for run in two_groups.glob("*/*-s0"):
        np.save(run / "final_samples.npy", np.full((10, 2), 9.0, dtype="float32"))  # all off the picture
    fig = samples_figure(group_runs(load_runs([two_groups])))
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_text()]
    assert "10/10 off-plot" in [t.get_text() for t in texts]
    assert min(t.get_fontsize() for t in texts) >= 9
    panel = fig.axes[0].get_position().width * fig.get_figwidth() * fig.dpi
    assert panel >= 180  # pixels per panel at 100 %
