"""mixgan.ablate without training: expansion, validation, the report on hand-made run dirs, locks."""

import csv
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mixgan.ablate import main
from mixgan.config.sweep import load_sweep, parse_seeds
from mixgan.errors import ConfigError
from mixgan.experiments.executor import LOCKS, Job, execute, run_state

TINY = {"model.hidden": 16, "train.iterations": 20, "metrics.every": 10, "metrics.n_samples": 100}


def write_sweep(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GRID_SWEEP = """
name: demo
base: configs/gan/default.yaml
overrides: {model.hidden: 16}
variants:
  erm: {objective.name: erm}
  mixup:
    overrides: {objective: {name: mixup}}
    grid: {objective.alpha: [0.1, 1e-2]}
grid: {data.name: [ring8, grid25]}
seeds: 0-1
metrics: [quality/modes]
paper: {erm__data.name=ring8: {quality/modes: 8}}
"""


def test_expansion_names_and_overrides(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GRID_SWEEP))
    names = [r.name for r in sweep.runs]
    assert names[:4] == ["erm__data.name=ring8__s0", "erm__data.name=ring8__s1",
                         "erm__data.name=grid25__s0", "erm__data.name=grid25__s1"]
    assert names[4:8] == ["mixup__data.name=ring8__objective.alpha=0.1__s0",
                          "mixup__data.name=ring8__objective.alpha=0.1__s1",
                          "mixup__data.name=ring8__objective.alpha=0.01__s0",
                          "mixup__data.name=ring8__objective.alpha=0.01__s1"]
    assert len(names) == 2 * 2 + 2 * 2 * 2 and len(set(names)) == len(names)
    run = sweep.runs[7]
    # Sweep overrides, then the variant's, then the grid point, then the seed.
    assert run.overrides == (("model.hidden", 16), ("objective.name", "mixup"), ("data.name", "ring8"),
                             ("objective.alpha", 0.01), ("seed", 1))
    assert run.row == "mixup__data.name=ring8__objective.alpha=0.01" and run.seed == 1
    assert sweep.grid_keys == ["data.name", "objective.alpha"]
    assert sweep.paper == {"erm__data.name=ring8": {"quality/modes": 8.0}}
    assert sweep.configs[run.name]["objective"]["alpha"] == 0.01  # 1e-2 is a float, not a string
    assert sweep.configs[run.name]["model"]["hidden"] == 16 and sweep.task == "gan"
    args = sweep.train_args(run, Path("/x"))
    assert args[:2] == ["--config", str(Path("configs/gan/default.yaml").resolve())]
    assert "--objective.alpha=0.01" in args and "--seed=1" in args and "--run.name=" + run.name in args


def test_seeds_forms():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds([2, 5]) == [2, 5] and parse_seeds(3) == [3]
    for bad in ("a-b", [], [1, 1], [-1], "4-"):
        with pytest.raises(ConfigError, match="seeds"):
            parse_seeds(bad)


BASE = "base: configs/gan/default.yaml\nseeds: [0]\nmetrics: [quality/modes]\n"


@pytest.mark.parametrize("text,fragment", [
    (BASE + "variants: {erm: {}}\ncolour: red\n", "unknown sweep key colour"),
    (BASE + "variants: {erm: {}}\ngrid: {}\n", "grid: empty"),
    (BASE + "variants: {erm: {}}\ngrid: {model.hidden: []}\n", "grid.model.hidden"),
    (BASE + "variants: {erm: {objective.nope: 1}}\n", "run erm__s0: unknown config key objective.nope"),
    (BASE + "variants: {erm: {train.iterations: ten}}\n", "train.iterations: expected int"),
    (BASE + "variants: {erm: {objective.alpha: 0}}\n", "objective.alpha"),
    (BASE + "variants:\n  erm: {}\n  erm: {model.hidden: 8}\n", "duplicate key 'erm'"),
    (BASE + "variants: {a__b: {}}\n", "variants: name 'a__b'"),
    (BASE + "variants: {}\n", "variants"),
    (BASE + "variants: {erm: {run.dir: elsewhere}}\n", "run.dir is set by the runner"),
    (BASE + "variants: {erm: {seed: 3}}\n", "seed is set by seeds"),
    (BASE + "variants: {erm: {}}\npaper: {erm: {test/error: 1}}\n", "metric test/error is not in metrics"),
    (BASE + "variants: {erm: {}}\npaper: {ermm: {quality/modes: 1}}\n", "paper: 'ermm'"),
    (BASE.replace("[quality/modes]", "[]") + "variants: {erm: {}}\n", "metrics: got []"),
    ("base: configs/gan/dcgan_cifar10_erm.yaml\nseeds: [0]\nvariants: {erm: {}}\n"
     "paper: {erm: {quality/modes: 1}}\n",
     "metric quality/modes is not in metrics: fidelity/fid_inception, fidelity/is_inception"),
    ("base: nope.yaml\nseeds: [0]\nmetrics: [m]\nvariants: {erm: {}}\n", "preset 'nope.yaml' not found"),
    ("base: configs/gan/default.yaml\nvariants: {erm: {}}\nmetrics: [m]\n", "missing key seeds"),
    (BASE.replace("seeds: [0]", "seeds: 0-x") + "variants: {erm: {}}\n", "seeds"),
    (BASE + "variants: {erm: {}}\ngrid: {model.hidden: [8, 8]}\n", "repeats a value"),
    (BASE + "variants: {erm: {model.hidden: 8}}\ngrid: {model.hidden: [8, 16]}\n", "overridden and swept"),
])
def test_invalid_sweep_rejected_before_anything_runs(tmp_path, capsys, text, fragment):
    out = tmp_path / "out"
    assert main([str(write_sweep(tmp_path, text)), f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert err.startswith("mixgan.ablate: error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_cli_exit_code_in_a_real_process(tmp_path):
    path = write_sweep(tmp_path, BASE + "variants: {erm: {objective.nope: 1}}\n")
    res = subprocess.run([sys.executable, "-m", "mixgan.ablate", str(path), f"--out={tmp_path / 'o'}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "objective.nope" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def _summary(run_dir: Path, status: str, **final: float) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"status": status, "final": final}))


REPORT_SWEEP = """
name: rep
base: configs/gan/default.yaml
variants:
  a: {}
  b: {objective.name: mixup}
seeds: 0-2
metrics: [quality/modes, loss/D]
paper: {a: {quality/modes: 6.5}}
"""


def test_report_mean_std_counts_and_paper_column(tmp_path, capsys):
    path, out = write_sweep(tmp_path, REPORT_SWEEP), tmp_path / "out"
    for seed, (modes, loss) in enumerate([(3, 1.0), (5, 1.5), (7, 2.6)]):
        _summary(out / f"a__s{seed}", "completed", **{"quality/modes": modes, "loss/D": loss})
    _summary(out / "b__s0", "completed", **{"quality/modes": 4, "loss/D": 0.5})
    _summary(out / "b__s1", "diverged", **{"quality/modes": 0, "loss/D": float("nan")})
    (out / "b__s2").mkdir()
    (out / "b__s2" / "failed.json").write_text("{}")
    assert main([str(path), f"--out={out}", "--report"]) == 0
    printed = capsys.readouterr().out
    md = (out / "report.md").read_text()
    # a: modes 3, 5, 7 → 5 ± 2; loss 1.0, 1.5, 2.6 → 1.7 ± 0.8185 (sample std), each with its
    # bootstrap interval (report/stats.py, checked against scipy in test_stats); b: one completed seed.
    row_a = "| a | 5 ± 2 [3, 7] | 6.5 | 1.7 ± 0.82 [1.17, 2.6] | 3 | 0 | 0 |"
    row_b = "| b | 4 |  | 0.5 | 1 | 1 | 1 |"
    assert row_a in md and row_b in md and row_a in printed
    head = "| variant | quality/modes | quality/modes (paper) | loss/D | completed | diverged | failed |"
    assert head in md
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["row"] for r in rows] == ["a", "b"]
    assert float(rows[0]["loss/D mean"]) == pytest.approx(1.7)
    assert float(rows[0]["loss/D std"]) == pytest.approx(0.818535277, rel=1e-6)
    assert rows[0]["quality/modes paper"] == "6.5" and rows[1]["quality/modes std"] == ""
    assert [rows[1][k] for k in ("completed", "diverged", "failed", "todo")] == ["1", "1", "1", "0"]


def test_a_sweep_without_metrics_reports_the_columns_compare_shows(tmp_path, capsys):
    # No `metrics:`: the task's standard ones, the final values behind the columns compare shows for
    # the task. For the toy GAN that is what the hand-written GAN sweeps name; for a classifier, the
    # test errors and calibration; a paper number is checked against them.
    from mixgan.report.tables import COLUMNS, parse_metrics

    path = write_sweep(tmp_path, REPORT_SWEEP.replace("metrics: [quality/modes, loss/D]\n", ""))
    out = tmp_path / "out"
    gan = load_sweep(path)
    assert gan.metrics == yaml.safe_load(Path("configs/ablation/gan_demo.yaml").read_text())["metrics"]
    assert gan.metrics == [COLUMNS[c].tag for c in parse_metrics(None, ["gan"]) if COLUMNS[c].final]
    clf = load_sweep(write_sweep(tmp_path, "base: configs/classify/moons.yaml\nvariants: {erm: {}}\n"
                                           "seeds: [0]\n", "clf.yaml"))
    assert clf.metrics == ["test/error", "test/error_best", "test/ece"]
    for seed, modes in enumerate([3, 5, 7]):
        _summary(out / f"a__s{seed}", "completed", **{"quality/modes": modes, "quality/high_quality": 0.5,
                                                      "quality/reverse_kl": 0.25, "loss/D": 1.0})
    assert main([str(path), f"--out={out}", "--report"]) == 0
    head = ("| variant | quality/modes | quality/modes (paper) | quality/high_quality | quality/reverse_kl | "
            "completed | diverged | failed | todo |")
    md = (out / "report.md").read_text()
    assert head in capsys.readouterr().out and head in md and "| a | 5 ± 2 [3, 7] | 6.5 | 0.5 ± 0 " in md


def test_report_warns_about_a_metric_no_run_has(tmp_path, capsys):
    # A name no run can report is refused before training (test_crash_resume.py); one the task reports
    # but no finished run has is warned about in the report.
    path, out = write_sweep(tmp_path, REPORT_SWEEP.replace("loss/D]", "stability/D_real]")), tmp_path / "out"
    _summary(out / "a__s0", "completed", **{"quality/modes": 3, "loss/D": 1.0})
    assert main([str(path), f"--out={out}", "--report"]) == 0
    warning = "no completed run reports stability/D_real; the runs report: loss/D, quality/modes"
    assert warning in capsys.readouterr().out


def test_dry_run_prints_plan_and_writes_nothing(tmp_path, capsys):
    path, out = write_sweep(tmp_path, GRID_SWEEP), tmp_path / "out"
    _summary(out / "erm__data.name=ring8__s0", "completed")
    assert main([str(path), f"--out={out}", "--dry-run", "--only", "erm"]) == 0
    text = capsys.readouterr().out
    assert "erm__data.name=grid25__s1  pending" in text and "mixup" not in text
    assert "1 completed, 3 pending; to run: 3" in text
    assert sorted(p.name for p in out.iterdir()) == ["erm__data.name=ring8__s0"]
    assert main([str(path), f"--out={out}", "--dry-run", "--only", "nothing*"]) == 2


def test_a_run_made_with_another_config_is_refused(tmp_path, capsys):
    path, out = write_sweep(tmp_path, BASE + "variants: {erm: {train.iterations: 20}}\n"), tmp_path / "out"
    sweep = load_sweep(path)
    old = json.loads(json.dumps(sweep.configs["erm__s0"]))
    old["train"]["iterations"] = 40
    _summary(out / "erm__s0", "completed")
    (out / "erm__s0" / "config.yaml").write_text(yaml.safe_dump({**old, "run": {"dir": "x"}}))
    assert main([str(path), f"--out={out}"]) == 2
    assert "train.iterations=40 but the sweep now gives 20" in capsys.readouterr().err


def test_a_run_made_before_a_key_existed_counts_with_that_keys_default(tmp_path, capsys):
    # A run dir from an older mixgan lacks keys added since (here objective.anneal): it ran with their
    # default, so the sweep counts it; the same key at another value is still refused.
    path, out = write_sweep(tmp_path, BASE + "variants: {erm: {train.iterations: 20}}\n"), tmp_path / "out"
    old = json.loads(json.dumps(load_sweep(path).configs["erm__s0"]))
    del old["objective"]["anneal"]
    _summary(out / "erm__s0", "completed")
    (out / "erm__s0" / "config.yaml").write_text(yaml.safe_dump({**old, "run": {"dir": "x"}}))
    assert main([str(path), f"--out={out}", "--report"]) == 0
    variants = "variants: {erm: {train.iterations: 20, objective.anneal: cosine}}\n"
    later = write_sweep(tmp_path, BASE + variants, name="later.yaml")
    assert main([str(later), f"--out={out}", "--report"]) == 2
    assert "objective.anneal='none' but the sweep now gives 'cosine'" in capsys.readouterr().err


def test_states_and_lock_held_elsewhere(tmp_path):
    assert run_state(tmp_path / "none") == "pending"
    (tmp_path / "p").mkdir()
    assert run_state(tmp_path / "p") == "partial"
    (tmp_path / "p" / "checkpoint.pt").write_bytes(b"x")
    assert run_state(tmp_path / "p") == "interrupted"
    _summary(tmp_path / "d", "diverged")
    assert run_state(tmp_path / "d") == "diverged"
    # Another process holds the run's lock: this runner neither starts nor touches the run.
    lock = tmp_path / LOCKS / "r.lock"
    lock.parent.mkdir()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        res = execute(Job("r", str(tmp_path), ["--never-used"]))
        assert res["status"] == "busy" and not (tmp_path / "r").exists()
    finally:
        os.close(fd)


def test_slurm_options_reach_submitit(tmp_path, monkeypatch):
    from mixgan.ablate import make_parser, submitit_executor

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    path = write_sweep(tmp_path, BASE + "variants: {erm: {}}\n")
    args = make_parser().parse_args([str(path), "--executor=slurm", "--partition=gpu", "--time=90",
                                     "--gpus=2", "--jobs=4"])
    ex = submitit_executor(args, load_sweep(path), tmp_path / "out")
    params = ex._executor.parameters
    assert (params["partition"], params["time"], params["gpus_per_node"], params["array_parallelism"]) == \
        ("gpu", 90, 2, 4)


REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("preset", sorted((REPO / "configs/ablation").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_validate(preset):
    from mixgan.train import TRAINERS

    base = REPO / yaml.safe_load(preset.read_text())["base"]
    task = yaml.safe_load(base.read_text()).get("task", "gan")
    if task not in TRAINERS:
        pytest.skip(f"task {task} has no trainer in this checkout")
    sweep = load_sweep(preset)
    assert sweep.runs and sweep.task == task
    assert all(m in sweep.metrics for row in sweep.paper.values() for m in row)


def test_slurm_without_submitit_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from mixgan.ablate import main

    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    path = write_sweep(tmp_path, BASE + "variants: {erm: {}}\n")
    assert main([str(path), f"--out={tmp_path / 'out'}", "--executor=slurm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "submitit is not installed" in err and ".[slurm]" in err
    assert "Traceback" not in err


def test_sweep_progress_counts_member_iterations_from_run_dirs(tmp_path):
    from mixgan.experiments.progress import SweepProgress, last_step

    for name, steps in (("a", [10, 20]), ("b", [10])):
        (tmp_path / name).mkdir()
        rows = "".join(json.dumps({"step": s}) + "\n" for s in steps)
        (tmp_path / name / "metrics.jsonl").write_text(rows + '{"step": 3')  # a row being written
    assert last_step(tmp_path / "a") == 20 and last_step(tmp_path / "missing") == 0
    progress = SweepProgress("s", tmp_path, {"a": 40, "b": 40, "c": 40})
    assert progress.bar.total == 120 and progress.bar.n == 30
    # resumed work is the bar's start: the rate counts only what this process trains
    assert progress.bar.format_dict["initial"] == 30
    progress.done({"name": "b", "status": "completed", "action": "fresh", "seconds": 1.0})
    assert progress.bar.n == 60 and "1/3 runs" in str(progress.bar.postfix)
    progress.bar.close()
    by_runs = SweepProgress("s", tmp_path, {"a": None, "b": 5})  # epochs: one unit per run
    assert by_runs.bar.total == 2 and by_runs.bar.n == 0
    by_runs.bar.close()


def test_cpu_sweeps_that_share_runs_have_the_same_configs():
    """The CPU studies read some rows from another sweep's runs (their files say which): those rows'
    configs must be the other sweep's, and the rest of each config (protocol, length, cadences) too."""
    def sweep(name):
        return load_sweep(REPO / "configs/ablation" / f"{name}.yaml").configs

    def protocol(cfg):
        return {k: v for k, v in cfg.items() if k not in ("objective", "stabilizers")}

    table1 = sweep("pacgan_table1_cpu")
    mixup = sweep("pacgan_mixup_cpu")
    for name, cfg in {**mixup, **sweep("mixup_family_cpu")}.items():
        assert protocol(cfg) == protocol(table1[f"gan__s{cfg['seed']}"]), name
    # Figure 5's family sweep shares figure5_cpu's rows of the same name
    fig5, family = sweep("figure5_cpu"), sweep("mixup_family_fig5")
    shared = [name for name in family if name in fig5]
    assert {n.split("__s")[0] for n in shared} == {"erm", "mixup_demo", "mixup_paper", "r1"}
    assert all(family[n] == fig5[n] for n in shared)
