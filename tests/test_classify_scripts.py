"""The classification experiment scripts end to end on iris (seconds): tables written, runs reused."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_tabular_and_adversarial_scripts(tmp_path):
    import adversarial
    import tabular

    tabular.main(["--seeds", "0,1", "--data", "iris", "--out", str(tmp_path / "tab")])
    raw = json.loads((tmp_path / "tab" / "results.json").read_text())
    assert set(raw["iris"]) == {"erm", "mixup-a1"} and all(len(v) == 2 for v in raw["iris"].values())
    table = (tmp_path / "tab" / "results.md").read_text()
    assert "| iris | 120 / 30 |" in table and "python scripts/tabular.py" in table
    stamp = (tmp_path / "tab" / "iris" / "erm-s0" / "summary.json").stat().st_mtime_ns
    tabular.main(["--seeds", "0", "--data", "iris", "--out", str(tmp_path / "tab")])  # reuses the run
    assert (tmp_path / "tab" / "iris" / "erm-s0" / "summary.json").stat().st_mtime_ns == stamp

    adversarial.main(["--config", "configs/classify/iris.yaml", "--seeds", "0", "--eps", "0.5",
                      "--steps", "2", "--out", str(tmp_path / "adv")])
    raw = json.loads((tmp_path / "adv" / "results.json").read_text())
    clean, fgsm = raw["erm"]["clean 0"][0][0], raw["erm"]["fgsm 0.5"][0][0]
    assert fgsm > clean  # a large step on standardized features hurts
