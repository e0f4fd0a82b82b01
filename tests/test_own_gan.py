"""Issue 24, item 4: your own G, D and data through mixgan's one loop (`mixgan.train_gan`), with only
names `mixgan` exports: run dirs compare reads, seeds, resume equal to an uninterrupted run,
divergence as a result, Ctrl-C, and bad input refused in one line."""

import json
import signal
import subprocess
import sys

import pytest
import torch
from torch import nn

import mixgan


def G():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))


def D():
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))


def loss():
    return mixgan.GANLoss(mixgan.Mixup(alpha=0.2),
                          stabilizers=[mixgan.R1(weight=1.0), mixgan.LeCam(weight=0.1)])


def spread(g, step):
    """The user's own metric: how far G's outputs spread (from a fixed noise batch)."""
    z = torch.randn(256, 2, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return {"mine/spread": g(z).std(0).mean()}


def run(tmp, steps=40, **kw):
    args = dict(G=G, D=D, data="grid25", loss=loss(), steps=steps, batch_size=32, dir=tmp, metrics_every=10,
                image_every=0, checkpoint_every=10, evaluate=spread, progress=False,
                config={"method": "mixup+r1+lecam"})
    return mixgan.train_gan(**{**args, **kw})


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["trainer"]


def test_seeds_pool_in_compare_with_the_users_metric_and_toy_quality(tmp_path):
    summaries = [run(tmp_path / "runs", seed=s, steps=20) for s in (0, 1, 2)]
    assert [s["status"] for s in summaries] == ["completed"] * 3
    final = summaries[0]["final"]
    for key in ("loss/D", "stability/grad_input_real", "stability/lecam_anchor_real", "quality/coverage",
                "final_large/coverage", "mine/spread"):
        assert key in final
    # seeds change the initial weights and the draws; the same seed gives the same numbers
    assert summaries[0]["final"]["loss/D"] != summaries[1]["final"]["loss/D"]
    shared = loss()  # one loss object for two runs: each run starts from its own fresh LeCam state
    again = [run(tmp_path / "again", seed=1, steps=20, loss=shared) for _ in range(2)]
    assert again[0]["final"] == again[1]["final"] == summaries[1]["final"]
    text = mixgan.compare_runs([tmp_path / "runs"], tmp_path / "cmp", plots=False, tensorboard=False)
    assert "mine/spread" in text and "20 iterations" in text
    # on a registered toy data set a train_gan run reads as a toy-GAN run: its quality columns, the
    # reference rows and the verdict against noise; mixgan's own measurements are not repeated as columns
    assert "| group | seeds | modes | high quality |" in text
    assert "| reference: uniform noise over the data's box | 20 |" in text and "uniform noise (" not in text
    assert "stability/D_fake" not in text and "Against uniform noise" in text
    row = next(line for line in text.splitlines() if "mixup" in line and "|" in line)
    assert row.split("|")[2].strip() == "3"  # the three seeds in one row
    from pathlib import Path

    cfg = (Path(summaries[0]["run_dir"]) / "config.yaml").read_text()
    assert "task: custom" in cfg and "dcgan" not in cfg and "lecam" in cfg
    import yaml

    assert yaml.safe_load(cfg)["stabilizers"]["gp"]["weight"] == 0.0  # off stabilizers recorded, off


def test_resume_after_ctrl_c_equals_the_uninterrupted_run(tmp_path):
    data = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))  # a tensor of examples
    whole = run(tmp_path / "whole", name="r", data=data)

    def interrupting(g, step):
        if step == 20:  # Ctrl-C during the run: checkpoint at this step, stop
            signal.raise_signal(signal.SIGINT)
        return spread(g, step)

    with pytest.raises(KeyboardInterrupt, match="interrupted at step 20"):  # the caller stops too
        run(tmp_path / "cut", name="r", data=data, evaluate=interrupting)
    cut = json.loads((tmp_path / "cut" / "r" / "summary.json").read_text())
    assert cut["status"] == "interrupted" and cut["step"] == 20
    done = run(tmp_path / "cut", data=data, resume=tmp_path / "cut" / "r")
    assert done["status"] == "completed" and done["final"] == whole["final"]
    assert rows(tmp_path / "cut" / "r") == rows(tmp_path / "whole" / "r")
    a, b = weights(tmp_path / "whole" / "r"), weights(tmp_path / "cut" / "r")
    for part in ("G", "D"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert torch.equal(a["loss"]["lecam.anchors"], b["loss"]["lecam.anchors"])
    # a resume may extend the run, never change it
    longer = run(tmp_path / "cut", steps=50, data=data, resume=tmp_path / "cut" / "r")
    assert longer["step"] == 50
    with pytest.raises(mixgan.ConfigError, match="lr"):
        run(tmp_path / "cut", steps=50, data=data, lr=1e-3, resume=tmp_path / "cut" / "r")


def test_a_diverging_run_is_a_result(tmp_path):
    calls = []

    def blows_up(n, gen):  # finite at first (the batch check passes), then NaN from the 5th batch on
        calls.append(n)
        x = torch.randn(n, 2, generator=gen)
        return x if len(calls) < 5 else x * float("nan")

    summary = run(tmp_path, data=blows_up, loss=mixgan.GANLoss())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 10


def test_images_and_a_data_function(tmp_path):
    def conv_G():
        return nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))

    def conv_D():
        return nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64, 1))

    def data(n, gen):
        return torch.rand(n, 1, 8, 8, generator=gen) * 2 - 1

    summary = mixgan.train_gan(G=conv_G, D=conv_D, data=data, latent=8, steps=6, batch_size=8, dir=tmp_path,
                               metrics_every=3, image_every=3, progress=False)
    assert summary["status"] == "completed"
    from pathlib import Path

    assert (Path(summary["run_dir"]) / "samples.png").is_file()


@pytest.mark.parametrize(("kw", "match"), [
    ({"G": nn.Linear(2, 2)}, "a function that builds the module"),
    ({"data": "spiral"}, "spiral"),
    ({"data": torch.zeros(5, dtype=torch.long)}, "float examples"),
    ({"steps": 0}, "steps"),
    ({"lr": -1.0}, "lr"),
    ({"betas": (0.5, 1.5)}, "betas"),
    ({"latent": (2, 0)}, "latent"),
    ({"loss": "mixup"}, "GANLoss"),
])
def test_bad_arguments_fail_before_anything_is_written(tmp_path, kw, match):
    with pytest.raises(mixgan.ConfigError, match=match):
        run(tmp_path / "runs", **kw)
    assert not (tmp_path / "runs").exists()


def test_the_cli_says_how_to_resume_such_a_run(tmp_path):
    summary = run(tmp_path, steps=2, data=torch.randn(8, 2))
    out = subprocess.run([sys.executable, "-m", "mixgan.train", "--resume", summary["run_dir"]],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mixgan.train_gan(..., resume=" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    # a run of a loop of your own (mixgan.run_logger, no checkpoint) gets the same line
    with mixgan.run_logger(dir=tmp_path / "logged", seed=0, config={"method": "mine"}) as logged:
        logged.log(1, {"loss/D": 0.5})
    out = subprocess.run([sys.executable, "-m", "mixgan.train", "--resume", str(logged.run_dir)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "trained by your own code" in out.stderr and "Traceback" not in out.stderr


def test_resume_with_more_steps_after_a_stop_off_the_cadence_equals_the_uninterrupted_run(tmp_path):
    # issue 33: a run of 25 steps (measured every 10: its last row, at 25, is off the cadence) extended
    # to 40 has the rows of a 40-step run: no row at 25, and the row at 30 averages steps 21-30
    data = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))
    whole = run(tmp_path / "whole", name="r", data=data, steps=40)
    short = run(tmp_path / "cut", name="r", data=data, steps=25)
    assert short["status"] == "completed"
    assert [r["step"] for r in rows(tmp_path / "cut" / "r")] == [10, 20, 25]
    longer = run(tmp_path / "cut", data=data, steps=40, resume=tmp_path / "cut" / "r")
    assert rows(tmp_path / "cut" / "r") == rows(tmp_path / "whole" / "r")
    assert longer["final"] == whole["final"]
    a, b = weights(tmp_path / "whole" / "r"), weights(tmp_path / "cut" / "r")
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])
