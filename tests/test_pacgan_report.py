"""scripts/pacgan_table1.py on the study's committed run data (docs/data/pacgan_table1_cpu): the table's
means ± s.e. are those of the runs' own rows, and the take-off steps those of a direct reading."""

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "pacgan_table1_cpu"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import pacgan_table1
    finally:
        sys.path.pop(0)
    return pacgan_table1


def values(row: str, step: int, tag: str) -> list[float]:
    out = []
    for run in sorted(DATA.glob(f"{row}__s*")):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        out.append(next(r[tag] for r in rows if r["step"] == step))
    return out


@pytest.mark.skipif(not DATA.is_dir(), reason="the study's run data is not in this checkout")
def test_the_table_is_the_runs_own_rows_and_the_paper_beside_them(report, tmp_path, capsys):
    assert report.main([str(DATA), "--step", "15000", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    text = (tmp_path / "pacgan_table1_table.md").read_text()
    assert "| *paper:* gan (400 epochs) | 10 | 17.3 ± 0.8 | 94.8 ± 0.7 | 0.70 ± 0.07 |" in text
    for row in ("gan", "pacgan4"):
        modes = values(row, 15000, "quality/modes")
        mean = sum(modes) / len(modes)
        se = math.sqrt(sum((m - mean) ** 2 for m in modes) / (len(modes) - 1) / len(modes))
        assert f"| **ours:** {row} (15,000 it.) | 10 | {mean:.3g} ± {se:.2g} |" in text
    assert (tmp_path / "pacgan_table1_curves.png").stat().st_size > 0


@pytest.mark.skipif(not DATA.is_dir(), reason="the study's run data is not in this checkout")
def test_take_off_is_the_first_step_after_the_last_evaluation_at_noise_level(report):
    from mixgan.report.runs import load_runs

    runs = load_runs([str(DATA)])
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(report.row_name(run), []).append(run)
    # a reference where only the noise row matters: levels 0.05 (density) and 0.1 (coverage) exactly
    refs = {"uniform noise over the data's box": {"quality/density": [0.05], "quality/coverage": [0.1]},
            "all mass on one mode": {"quality/density": [1.0], "quality/coverage": [0.04]}}
    text = report.takeoff(groups, refs)
    for name, group in groups.items():
        found = 0
        for run in group:
            d, c = dict(run.series("quality/density")), dict(run.series("quality/coverage"))
            ok = [d[s] > 0.05 or c[s] > 0.1 for s in sorted(d)]  # not noise-level (metrics/health.py)
            found += bool(ok) and ok[-1]  # above at the last evaluation: it has a take-off step
        assert f"- {name}: {found} of {len(group)} seeds" in text


@pytest.mark.skipif(not DATA.is_dir(), reason="the study's run data is not in this checkout")
def test_two_sweeps_read_as_one_give_the_same_rows_and_each_baselines_differences(report, tmp_path, capsys):
    import shutil

    for row in ("gan", "pacgan4"):  # the study split into two sweep folders, one row each
        for run in DATA.glob(f"{row}__s*"):
            shutil.copytree(run, tmp_path / row / run.name)
    assert report.main([str(DATA), "--step", "20000", "--out", str(tmp_path / "one")]) == 0
    assert report.main([str(tmp_path / "pacgan4"), str(tmp_path / "gan"), "--step", "20000", "--name", "two",
                        "--baseline", "gan,pacgan4", "--out", str(tmp_path / "two")]) == 0
    capsys.readouterr()
    one = (tmp_path / "one" / "pacgan_table1_table.md").read_text()
    two = (tmp_path / "two" / "two_table.md").read_text()
    # the same rows in the same order (baselines first), the second baseline's table without the first
    assert one.split("\n\n")[0] == two.split("\n\n")[0]
    vs_pacgan4 = two.split("\n\n")[2]
    assert vs_pacgan4.startswith("| vs pacgan4 |") and "| gan |" not in vs_pacgan4
    assert (tmp_path / "two" / "two_curves.png").stat().st_size > 0
    # --rows keeps the rows named, their lines unchanged
    assert report.main([str(tmp_path / "pacgan4"), str(tmp_path / "gan"), "--step", "20000", "--rows", "gan",
                        "--out", str(tmp_path / "gan_only")]) == 0
    capsys.readouterr()
    gan_only = (tmp_path / "gan_only" / "pacgan_table1_table.md").read_text().split("\n\n")[0]
    assert "pacgan4" not in gan_only
    assert [ln for ln in one.split("\n\n")[0].splitlines() if "pacgan4" not in ln] == gan_only.splitlines()

    # a run of another protocol among them is refused in one line
    cfg = tmp_path / "gan" / "gan__s0" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("name: grid25", "name: ring8", 1))
    assert report.main([str(tmp_path / "gan"), str(tmp_path / "pacgan4"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pacgan_table1: error: the runs are on 2 protocols") and "\n" not in err


MIXUP = ROOT / "docs" / "data" / "pacgan_mixup_cpu"


ROWS = "gan,pacgan4,mixup_paper,mixup_demo,mixup_pacgan2,r1"


@pytest.mark.skipif(not MIXUP.is_dir(), reason="the study's run data is not in this checkout")
@pytest.mark.parametrize("name, step", [("pacgan_mixup", 0), ("pacgan_mixup_partial", 20000)])
def test_the_mixup_tables_in_the_docs_are_the_committed_runs_tables(report, tmp_path, capsys, name, step):
    # docs/<name>_table.md is what the script writes from the committed runs, at their common step
    # (40,000) and at 20,000
    args = [str(MIXUP), str(DATA), "--name", name, "--baseline", "gan,pacgan4,mixup_paper",
            "--rows", ROWS, "--step", str(step), "--out", str(tmp_path)]
    assert report.main(args) == 0
    capsys.readouterr()
    want = (ROOT / "docs" / f"{name}_table.md").read_text()
    assert (tmp_path / f"{name}_table.md").read_text() == want
    assert want.strip() in (ROOT / "docs" / "pacgan_table1.md").read_text()  # pasted whole
