"""The examples in examples/ run on tiny data in seconds and import only public mixgan names."""

import ast
import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_import_only_public_names():
    for path in EXAMPLES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] != "mixgan", f"{path.name}: from {node.module} import"
            if isinstance(node, ast.Import):
                assert all(a.name == "mixgan" or not a.name.startswith("mixgan") for a in node.names)


def test_dcgan_mixup_example_runs_three_seeds_and_compares(tmp_path):
    text = load("dcgan_mixup").main(["--out", str(tmp_path / "runs"), "--steps", "4"])
    row = next(line for line in text.splitlines() if "objective.name=mixup" in line or "mixup" in line
               and line.startswith("|") and "seeds" not in line)
    assert row.split("|")[2].strip() == "3"
    assert len(list((tmp_path / "runs").glob("*/summary.json"))) == 3


def test_own_gan_example_trains_resumes_and_compares(tmp_path):
    out = str(tmp_path / "runs")
    text = load("own_gan").main(["--out", out, "--steps", "4", "--seeds", "2", "--every", "2", "--quiet"])
    assert "mine/radius" in text
    text = load("own_gan").main(["--out", out, "--steps", "6", "--every", "2", "--resume", f"{out}/mixup-s1",
                                   "--quiet"])
    import json

    summary = json.loads((tmp_path / "runs" / "mixup-s1" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 6
