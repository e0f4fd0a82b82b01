"""mixgan.compare on hand-made run dirs with known numbers: statistics, grouping, files, bad input."""

import csv
import json
import math
import statistics
import subprocess
import sys

import numpy as np
import pytest

from mixgan.compare import compare, group_runs, load_runs, main, run_stats
from mixgan.config.core import flatten, load_config, save_config
from mixgan.rundir.paths import write_json_atomic

TAGS = ("quality/modes", "quality/high_quality", "quality/reverse_kl", "stability/grad_norm_D",
        "stability/grad_input_real", "loss/D")


def make_run(root, data, objective, seed, series, status="completed", total=300, samples=False, group=None,
             extra=()):
    """A run dir as the trainer writes it: config.yaml, metrics.jsonl, summary.json (and samples)."""
    group = group or f"{data}-{objective}"
    name = f"{group}-s{seed}"
    run = root / group / name
    run.mkdir(parents=True)
    cfg = load_config(None, [*extra, ("data.name", data), ("objective.name", objective), ("seed", seed),
                             ("train.iterations", total), ("run.dir", str(run.parent)), ("run.name", name)])
    save_config(cfg, run / "config.yaml")
    rows = [{"step": 100 * (i + 1), **{t: series[t][i] for t in TAGS}} for i in range(len(series[TAGS[0]]))]
    with (run / "metrics.jsonl").open("w") as f:
        for r in rows:  # as RunLogger writes them: non-finite values as strings
            f.write(json.dumps({k: v if math.isfinite(v) else str(v) for k, v in r.items()}) + "\n")
    final = {k: v for k, v in rows[-1].items() if k != "step"}
    diverged_at = rows[-1]["step"] if status == "diverged" else None
    write_json_atomic(run / "summary.json", {"status": status, "step": rows[-1]["step"], "total": total,
                                             "diverged_at": diverged_at, "final": final})
    if samples:
        np.save(run / "final_samples.npy", np.random.default_rng(seed).normal(size=(64, 2)).astype("float32"))
    return run


def series(modes, hq, kl, gd, gi, ld):
    return dict(zip(TAGS, (modes, hq, kl, gd, gi, ld)))


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    # ring8 / erm over three seeds: final modes 8, 6, 3
    make_run(root, "ring8", "erm", 0, series([4, 8, 8], [.5, .9, .9], [.3, .1, .1], [1, 2, 3], [10, 20, 30],
                                             [1.0, 0.5, 0.7]), samples=True)
    make_run(root, "ring8", "erm", 1, series([8, 7, 6], [.9, .7, .6], [.1, .2, .4], [2, 2, 2], [5, 5, 5],
                                             [1.0, 1.0, 1.0]), samples=True)
    make_run(root, "ring8", "erm", 2, series([2, 5, 3], [.1, .2, .3], [2., 1.5, 1.], [1, 1, 10], [1, 2, 3],
                                             [0.2, 0.4, 0.8]))
    # ring8 / mixup: one good seed and one that diverged at step 200
    make_run(root, "ring8", "mixup", 0, series([8, 8, 8], [.9, .9, .9], [0., 0., 0.], [1, 1, 1], [1, 1, 1],
                                               [.6, .6, .6]))
    make_run(root, "ring8", "mixup", 1, series([8, 0], [.9, 0.], [0., math.log(8)], [1, math.nan],
                                               [1, math.inf], [.6, math.nan]), status="diverged")
    # grid25 / erm: one seed covering all 25 modes
    make_run(root, "grid25", "erm", 0, series([20, 25, 25], [.5, .6, .7], [.2, .1, .05], [1, 1, 1], [1, 1, 1],
                                              [.5, .5, .5]))
    return root


def test_stats_of_known_numbers(runs_root):
    groups, table, text = compare([runs_root], runs_root.parent / "out", plots=False)
    assert [g.label for g in groups] == ["erm, grid25", "erm, ring8", "mixup, ring8"]
    grid, erm, mixup = table
    assert erm["seeds"] == 3 and erm["num_modes"] == 8 and grid["num_modes"] == 25
    assert erm["modes"]["value"] == pytest.approx((8 + 6 + 3) / 3)
    assert erm["modes"]["std"] == pytest.approx(np.std([8, 6, 3], ddof=1))
    assert erm["high_quality"]["value"] == pytest.approx(0.6)
    assert erm["reverse_kl"]["std"] == pytest.approx(np.std([.1, .4, 1.], ddof=1))
    assert erm["all_modes"]["value"] == pytest.approx(1 / 3)  # seed 0 only
    assert erm["collapsed"]["value"] == pytest.approx(1 / 3)  # seed 2: 3 <= 8 / 2
    assert erm["first_all_modes"]["value"] == 200  # median of 200, 100, never
    assert erm["mode_drops"]["value"] == pytest.approx((0 + 2 + 1) / 3)
    assert erm["grad_D_mean"]["value"] == pytest.approx(statistics.fmean([2, 2, 4]))
    assert erm["grad_D_max"]["value"] == pytest.approx(5) and erm["grad_D_max"]["std"] == pytest.approx(
        np.std([3, 2, 10], ddof=1))
    assert erm["grad_input_max"]["value"] == pytest.approx((30 + 5 + 3) / 3)
    # loss/D over the second half (steps 200 and 300 of 300), population variance per run
    assert erm["var_loss_D"]["value"] == pytest.approx((0.01 + 0 + 0.04) / 3)
    assert grid["modes"]["std"] is None and grid["all_modes"]["value"] == 1.0
    assert grid["first_all_modes"]["value"] == 200
    # "| group | seeds | modes | ..." with mean ± std [bootstrap interval] and the data set's mode count
    from mixgan.report.stats import describe

    lo, hi = describe([8, 6, 3]).low, describe([8, 6, 3]).high
    cell = f"5.67 ± 2.5 [{lo:.3g}, {hi:.3g}] / 8"
    assert f"| erm, ring8 | 3 | {cell} | 0.6 ± 0.3 [" in text
    assert erm["modes"]["low"] < erm["modes"]["value"] < erm["modes"]["high"]
    assert "| 1/3 (0.06–0.79) |" in text  # all modes: 1 of 3 seeds, Wilson interval


def test_diverged_run_is_counted_not_dropped(runs_root):
    _, table, text = compare([runs_root / "ring8-mixup"], runs_root.parent / "out", plots=False)
    (row,) = table
    assert row["seeds"] == 2 and row["diverged"] == 1
    # One rule (report/stats.py): the diverged seed is counted, never averaged into the means...
    assert row["modes"]["value"] == pytest.approx(8.0) and row["modes"]["n"] == 1
    # ...and it counts as collapsed in the fractions over both finished seeds.
    assert row["collapsed"]["value"] == 0.5 and row["all_modes"]["value"] == 0.5
    assert row["grad_D_max"]["value"] == 1.0  # non-finite values are not averaged in
    assert "| 2 (1 diverged) |" in text
    stats = run_stats(load_runs([runs_root / "ring8-mixup" / "ring8-mixup-s1"])[0])
    assert stats["collapsed"] == 1.0 and stats["all_modes"] == 0.0


def test_grouping_by_a_key_and_by_differing_keys(runs_root):
    runs = load_runs([runs_root])
    assert len(runs) == 6
    by_obj = group_runs(runs, by="objective.name")
    assert [(g.label, len(g.runs)) for g in by_obj] == [("erm", 4), ("mixup", 2)]
    assert [(g.label, g.keys) for g in group_runs(runs, by="seed")][:2] == [("seed=0", {"seed": 0}),
                                                                            ("seed=1", {"seed": 1})]
    # Only the objective differs between these two groups: the label names only it.
    two = group_runs(load_runs([runs_root / "ring8-erm", runs_root / "ring8-mixup"]))
    assert [g.label for g in two] == ["erm", "mixup"]
    # The same run named twice (directly and through its group) is read once.
    assert len(load_runs([runs_root / "ring8-erm", runs_root / "ring8-erm" / "ring8-erm-s0"])) == 3


def test_cli_writes_markdown_csv_and_plots(runs_root, capsys):
    out = runs_root.parent / "report"
    assert main([str(runs_root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[2].startswith("| group | seeds | modes |") and "wrote" in printed
    assert (out / "table.md").read_text().startswith(printed.split("\n\n")[0])
    rows = {r["group"]: r for r in csv.DictReader((out / "table.csv").open())}
    erm = rows["erm, ring8"]
    assert float(erm["modes_mean"]) == pytest.approx(17 / 3)
    assert float(erm["all_modes"]) == pytest.approx(1 / 3)
    assert erm["data.name"] == "ring8" and erm["first_all_modes"] == "200.0"
    assert rows["mixup, ring8"]["diverged"] == "1"
    for png in ("curves.png", "samples.png"):
        data = (out / png).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5000


def test_metrics_option_selects_columns(runs_root, capsys):
    out = runs_root.parent / "few"
    assert main([str(runs_root / "ring8-erm"), "--out", str(out), "--metrics", "modes,first_all_modes",
                 "--no-plots"]) == 0
    head = capsys.readouterr().out.splitlines()[2]  # under the caption line and a blank line
    assert head == "| group | seeds | modes | first it. all modes |"
    assert not (out / "curves.png").exists()


@pytest.mark.parametrize("make_args,fragment", [
    (lambda r: [str(r / "missing")], "no such run dir"),
    (lambda r: [str(r / "ring8-erm" / "ring8-erm-s0" / "metrics.jsonl")], "not a run dir"),
    (lambda r: [str(r.parent / "empty")], "empty group"),
    (lambda r: [str(r), "--metrics", "modes,fid"], "unknown metric 'fid'; accepted: modes, high_quality"),
    (lambda r: [str(r), "--by", "objective.nme"], "--by"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(runs_root, capsys, make_args, fragment):
    (runs_root.parent / "empty").mkdir()
    out = runs_root.parent / "never"
    assert main([*make_args(runs_root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_real_exit_code(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mixgan.compare", str(tmp_path / "nothing")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.startswith("mixgan.compare: error:")
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_erm_groups_ignore_the_keys_erm_never_reads():
    # ERM reads no alpha: ERM runs saved with different alphas are one experiment, and the labels
    # name alpha only for the mixup groups, where it differs.
    from pathlib import Path

    from mixgan.compare import Run
    from mixgan.config.core import flatten, to_dict

    def run(objective, alpha, seed):
        cfg = load_config(None, [("objective.name", objective), ("objective.alpha", alpha), ("seed", seed)])
        return Run(Path(f"{objective}-{alpha}-{seed}"), flatten(to_dict(cfg)), [], {})

    runs = [run("erm", 0.2, 0), run("erm", 1.0, 1), run("mixup", 0.1, 0), run("mixup", 0.2, 0)]
    groups = group_runs(runs)
    assert [(g.label, len(g.runs)) for g in groups] == [("erm", 2), ("mixup α=0.1", 1), ("mixup α=0.2", 1)]


def test_baseline_differences_interval_p_value_and_forest_plot(runs_root, capsys):
    from scipy import stats as sps

    out = runs_root.parent / "vs"
    assert main([str(runs_root / "ring8-erm"), str(runs_root / "ring8-mixup"), "--out", str(out),
                 "--baseline", "objective.name=erm"]) == 0  # the older label form still works
    printed = capsys.readouterr().out
    assert "Against the baseline erm:" in printed
    rows = {r["metric"]: r for r in csv.DictReader((out / "differences.csv").open())}
    modes = rows["modes"]
    # mixup's one completed seed (8 modes) against ERM's 8, 6, 3: Δ = 8 − 17/3; Mann–Whitney as scipy's
    assert float(modes["delta"]) == pytest.approx(8 - 17 / 3)
    assert float(modes["p_value"]) == pytest.approx(sps.mannwhitneyu([8], [8, 6, 3]).pvalue)
    assert modes["low"] == "" and modes["n"] == "1" and modes["n_baseline"] == "3"  # 1 seed: no interval
    assert float(modes["effect"]) == pytest.approx(2 * sps.mannwhitneyu([8], [8, 6, 3]).statistic / 3 - 1)
    assert (out / "forest.png").read_bytes()[:4] == b"\x89PNG"
    assert "Mann–Whitney" in (out / "differences.md").read_text()


def test_unknown_baseline_is_one_line_listing_the_groups(runs_root, capsys):
    out = runs_root.parent / "bad"
    groups = [str(runs_root / "ring8-mixup"), str(runs_root / "ring8-erm")]
    assert main([*groups, "--out", str(out), "--baseline", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("mixgan.compare: error: --baseline: 'nope' matches no group; accepted: mixup or "
                           "ring8-mixup; erm or ring8-erm (a group's label, its folder's name or path)")
    assert not out.exists()


def _baseline(capsys, out, args):
    """The baseline group `compare` reported against (differences.csv), or its one-line error."""
    code = main([*args, "--out", str(out), "--no-plots", "--no-tensorboard"])
    captured = capsys.readouterr()
    if code != 0:
        assert code == 2 and len(captured.err.strip().splitlines()) == 1
        return captured.err.strip()
    rows = list(csv.DictReader((out / "differences.csv").open()))
    assert {r["baseline"] for r in rows} == {captured.out.split("Against the baseline ")[1].split(":")[0]}
    return rows[0]["baseline"]


def test_baseline_by_label_folder_name_or_path(runs_root, capsys, monkeypatch):
    # The command: `compare runs/grid25-mixup runs/grid25-erm --baseline grid25-erm`; every
    # name a user sees for a group picks it: its label, the older key=value label, the folder's name,
    # its path as given, relative, with a trailing slash, or resolved.
    monkeypatch.chdir(runs_root.parent)
    two = ["runs/ring8-mixup", "runs/ring8-erm"]
    for name in ("erm", "objective.name=erm", "ring8-erm", "runs/ring8-erm", "runs/ring8-erm/",
                 "./runs/ring8-erm", str(runs_root / "ring8-erm"), "objective.name=e"):
        assert _baseline(capsys, runs_root.parent / "vs", [*two, "--baseline", name]) == "erm", name
    # All runs under one root: each group's own folder still names it; a folder holding several groups
    # (the root) does not, and a short label two groups share is refused, listing the accepted names.
    assert _baseline(capsys, runs_root.parent / "vs", ["runs", "--baseline", "ring8-erm"]) == "erm, ring8"
    assert _baseline(capsys, runs_root.parent / "vs", ["runs", "--baseline", "grid25-erm"]) == "erm, grid25"
    err = _baseline(capsys, runs_root.parent / "vs", ["runs", "--baseline", "erm"])
    assert "'erm' matches 2 groups; accepted: erm, grid25 or grid25-erm; erm, ring8 or ring8-erm;" in err
    assert "matches no group" in _baseline(capsys, runs_root.parent / "vs", ["runs", "--baseline", "runs"])
    # By run (`--by row`, sweep runs): the row's name.
    by_row = [*two, "--by", "row", "--baseline", "ring8-erm"]
    assert _baseline(capsys, runs_root.parent / "vs", by_row) == "ring8-erm"


def test_labels_are_readable_in_tables_and_tensorboard(tmp_path, capsys):
    # Groups that differ in mixup's α: `mixup α=0.2` in the table, the CSV, the differences and as the
    # TensorBoard run's name; `--baseline` takes that label as printed.
    s = series([8, 8], [.9, .9], [0., 0.], [1, 1], [1, 1], [.6, .6])
    for alpha, group in ((0.2, "a02"), (1.0, "a1")):
        for seed in (0, 1):
            make_run(tmp_path / "runs", "ring8", "mixup", seed, s, group=group,
                     extra=[("objective.alpha", alpha)])
    out = tmp_path / "out"
    assert main([str(tmp_path / "runs"), "--out", str(out), "--no-plots", "--baseline", "mixup α=0.2"]) == 0
    printed = capsys.readouterr().out
    assert "| mixup α=0.2 | 2 |" in printed and "| mixup α=1.0 | 2 |" in printed
    assert "Against the baseline mixup α=0.2:" in printed
    labels = ["mixup α=0.2", "mixup α=1.0"]
    groups = [r["group"] for r in csv.DictReader((out / "table.csv").open())]
    assert [g for g in groups if not g.startswith("reference: ")] == labels  # then the reference rows
    assert sorted(p.parent.name for p in out.glob("*/events.out.tfevents.*")) == labels  # TensorBoard runs
    assert "matches 2 groups" in _baseline(capsys, out, [str(tmp_path / "runs"), "--baseline", "mixup"])


def test_unread_keys_come_from_the_registries():
    from mixgan.compare import unread_keys
    from mixgan.config.core import to_dict

    erm = flatten(to_dict(load_config(None, [])))
    assert {"objective.alpha", "objective.pairs", "stabilizers.r1.every", "train.ema"} <= unread_keys(erm)
    assert "objective.loss" not in unread_keys(erm) and "objective.g_loss" not in unread_keys(erm)
    r1 = flatten(to_dict(load_config(None, [("objective.name", "mixup"), ("stabilizers.r1.weight", 1.0)])))
    assert not {"objective.alpha", "stabilizers.r1.weight", "stabilizers.r1.every"} & unread_keys(r1)
    clf = flatten(to_dict(load_config(None, [], task="classify")))
    assert "objective.alpha" in unread_keys(clf) and "objective.label_smoothing" not in unread_keys(clf)


def test_by_row_groups_sweep_runs_by_their_name_without_the_seed(tmp_path):
    from mixgan.compare import Run

    runs = [Run(tmp_path / n, {"seed": i}, [], {}) for i, n in
            enumerate(["erm__s0", "erm__s1", "r1__data.name=grid25__s0", "run-s3", "run-s4"])]
    assert [(g.label, len(g.runs)) for g in group_runs(runs, by="row")] == [
        ("erm", 2), ("r1__data.name=grid25", 1), ("run", 2)]


def test_classifier_runs_get_the_classifier_columns(tmp_path, capsys):
    # compare chooses its columns by the runs' task (report/tables.TASK_COLUMNS): test error, best
    # test error and ECE for a classifier, pooled over seeds like any column; no GAN columns.
    for seed, (err, best, ece) in enumerate([(2.0, 1.5, 4.0), (4.0, 2.5, 6.0)]):
        run = tmp_path / "runs" / f"moons-s{seed}"
        run.mkdir(parents=True)
        save_config(load_config(None, [("data.name", "moons"), ("model.name", "mlp"), ("seed", seed)],
                                task="classify"),
                    run / "config.yaml")
        final = {"test/error": err, "test/error_best": best, "test/ece": ece}
        (run / "metrics.jsonl").write_text(json.dumps({"step": 1, **final}) + "\n")
        write_json_atomic(run / "summary.json", {"status": "completed", "final": final})
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-plots",
                 "--no-tensorboard"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| group | seeds | test error | best test error | test ECE |"
    assert lines[4].endswith("| 2 | 3 ± 1.4 [2, 4] | 2 ± 0.71 [1.5, 2.5] | 5 ± 1.4 [4, 6] |")


def test_reference_rows_and_the_verdict_against_noise(tmp_path, capsys):
    # Two grid25 groups with known final values: one scores like uniform noise, one like the data.
    like = {"erm": {"quality/density": [0.009, 0.012, 0.010], "quality/coverage": [0.05, 0.04, 0.045],
                    "quality/sliced_w1": [0.052, 0.05, 0.055]},
            "mixup": {"quality/density": [0.8, 0.9, 0.85], "quality/coverage": [0.9, 0.85, 0.95],
                      "quality/sliced_w1": [0.03, 0.025, 0.02]}}
    for objective, values in like.items():
        for seed in range(3):
            run = make_run(tmp_path / "runs", "grid25", objective, seed,
                           series([12, 13], [.01, .01], [.5, .5], [1, 1], [1, 1], [.7, .7]))
            summary = json.loads((run / "summary.json").read_text())
            summary["final"].update({k: v[seed] for k, v in values.items()})
            write_json_atomic(run / "summary.json", summary)
    assert main([str(tmp_path / "runs"), f"--out={tmp_path / 'out'}", "--no-plots", "--no-tensorboard",
                 "--metrics=modes,density,coverage,sliced_w1"]) == 0
    out = capsys.readouterr().out
    for name in ("the data (another draw)", "modes blurred, σ = 5·std", "all mass on one mode",
                 "uniform noise over the data's box"):
        assert f"| reference: {name} |" in out
    verdicts = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("- ")}
    assert "not distinguishable from uniform noise" in verdicts["- erm"]
    assert "better than uniform noise on density" in verdicts["- mixup"]
    assert "not distinguishable" not in verdicts["- mixup"]
    # the noise row: 20 draws, density about 0.01 (docs/results.md's table), also in table.csv
    noise = next(r for r in csv.DictReader((tmp_path / "out" / "table.csv").open()) if "noise" in r["group"])
    assert noise["seeds"] == "20" and 0.005 < float(noise["density_mean"]) < 0.02


def test_step_reads_every_run_as_it_stood_at_that_step(tmp_path, capsys):
    # Two seeds logged at 100, 200, 300; --step 200 reports their step-200 rows as their final values,
    # what two 200-step runs of the same config and seed would report (measuring never changes training).
    for seed, modes in ((0, [3, 9, 25]), (1, [5, 11, 25])):
        make_run(tmp_path / "runs", "grid25", "mixup", seed,
                 series(modes, [.1, .2, .3], [1., .5, .1], [1, 1, 1], [1, 1, 1], [.6, .6, .6]))
    assert main([str(tmp_path / "runs"), f"--out={tmp_path / 'out'}", "--no-plots", "--no-tensorboard",
                 "--metrics=modes", "--step=200"]) == 0
    out = capsys.readouterr().out
    assert "every run as it stood at step 200" in out
    assert "| mixup, grid25 | 2 | 10 ± 1.4 [9, 11] / 25 |" in out
    assert main([str(tmp_path / "runs"), f"--out={tmp_path / 'o2'}", "--no-plots", "--no-tensorboard",
                 "--metrics=modes", "--step=250"]) == 0  # no row at 250: unfinished, never averaged in
    assert "| mixup, grid25 | 2 (2 unfinished) | — |" in capsys.readouterr().out
    assert main([str(tmp_path / "runs"), f"--out={tmp_path / 'o3'}", "--step=0"]) == 2


def test_curves_draw_the_reference_lines(tmp_path):
    # compare's curves.png: a horizontal line per reference at its mean score, labelled in the legend.
    from mixgan.report.plots_compare import curves_figure
    from mixgan.report.references import curve_lines
    from mixgan.report.runs import load_runs

    for seed in range(2):
        make_run(tmp_path / "runs", "grid25", "mixup", seed,
                 series([12, 13], [.01, .01], [.5, .5], [1, 1], [1, 1], [.7, .7]))
    runs = load_runs([tmp_path / "runs"])
    lines = curve_lines(runs)
    assert set(lines) >= {"data", "noise", "one mode"}
    assert lines["data"]["quality/modes"] == 25 and lines["one mode"]["quality/modes"] == 1
    assert 15 < lines["noise"]["quality/modes"] < 20  # 17.0 ± 2.1 over draws (issue 23)
    fig = curves_figure([type("G", (), {"runs": runs, "label": "mixup"})()], ["quality/modes"], lines)
    ax = fig.axes[0]
    flat = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines()
            if "reference" in line.get_label()}
    assert flat["data (reference)"] == 25 and flat["one mode (reference)"] == 1
    assert {t.get_text() for t in fig.legends[0].get_texts()} >= {"mixup (n=2)", "noise (reference)"}


def test_the_last_evaluations_give_a_runs_spread_and_level_at_the_end():
    # quality_stats: the std and the mean of a run's last LAST_K evaluations (non-finite ones left out),
    # beside its final value; a run with one evaluation has no spread.
    import statistics

    from mixgan.report.tables import LAST_K, quality_stats

    cov = [0.9, 0.1, 0.2, float("nan"), 0.3, 0.4, 0.5]
    rows = {"quality/coverage": list(enumerate(cov)), "quality/density": [(0, 0.7)], "quality/modes": []}
    out = quality_stats({"quality/coverage": 0.5}, lambda tag: rows[tag])
    last = [0.2, 0.3, 0.4, 0.5]  # the last 5 evaluations, the NaN left out
    assert LAST_K == 5 and out["coverage"] == 0.5
    assert out["coverage_last_mean"] == pytest.approx(statistics.fmean(last))
    assert out["coverage_last_sd"] == pytest.approx(statistics.stdev(last))
    assert out["density_last_mean"] == 0.7 and out["density_last_sd"] is None and out["modes_last_sd"] is None
