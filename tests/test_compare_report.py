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
    assert [g.label for g in groups] == ["objective.name=erm", "objective.name=mixup"]
    runs = sorted(p.parent.name for p in out.glob("*/events.out.tfevents.*"))
    assert runs == ["objective.name=erm", "objective.name=mixup"]
    for folder, name in (("objective.name=erm", "ring8-erm"), ("objective.name=mixup", "ring8-mixup")):
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
    acc = EventAccumulator(str(out / "objective.name=erm"), size_guidance={"scalars": 0})
    acc.Reload()
    assert {e.step: e.value for e in acc.Scalars("loss/D/median")}[300] == pytest.approx(0.75)
    # A second compare into the same folder replaces the group runs instead of adding to them.
    compare([two_groups], out, plots=False)
    assert len(list((out / "objective.name=erm").glob("events.out.tfevents.*"))) == 1


def test_no_tensorboard_option(two_groups, tmp_path):
    from mixgan.compare import main

    out = tmp_path / "plain"
    assert main([str(two_groups), "--out", str(out), "--no-plots", "--no-tensorboard"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["table.csv", "table.md"]
