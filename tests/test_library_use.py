"""Acceptance of issue 24: a user's own GAN and loop, with only names `mixgan` exports: mixup + R1 +
LeCam as the loss, the run logged with mixgan.run_logger over seeds, read back through compare with a
column for the metric the user logged."""

import math

import torch
from torch import nn

import mixgan


def make_nets():
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    return G, D


def train(seed, out, steps=6):
    torch.manual_seed(seed)
    G, D = make_nets()
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    loss = mixgan.GANLoss(mixgan.Mixup(alpha=0.2),
                          stabilizers=[mixgan.R1(weight=1.0), mixgan.LeCam(weight=0.1)])
    gen = torch.Generator().manual_seed(seed)
    config = {"objective": {"name": "mixup_r1_lecam"}}
    with mixgan.run_logger(dir=out, seed=seed, total=steps, config=config) as run:
        for step in range(1, steps + 1):
            real = torch.randn(16, 2, generator=gen) * 0.1 + 1.0
            fake = G(torch.randn(16, 2, generator=gen))
            loss_d = loss.d_loss(D, real, fake.detach(), gen)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = loss.g_loss(D, real, fake, gen)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            my_metric = (fake.mean(0) - real.mean(0)).norm()  # the user's own number
            run.log(step, {"loss/D": loss_d, "loss/G": loss_g, "mine/mean_gap": my_metric, **loss.metrics(),
                           **mixgan.probe_discriminator(D, real, fake.detach(), gen)})
    return run.run_dir


def test_users_gan_with_mixup_r1_lecam_through_the_run_logger_and_compare(tmp_path):
    dirs = [train(seed, tmp_path / "runs") for seed in (0, 1, 2)]
    assert all((d / "summary.json").is_file() and (d / "metrics.jsonl").is_file() for d in dirs)
    text = mixgan.compare_runs([tmp_path / "runs"], tmp_path / "cmp", plots=False, tensorboard=False)
    assert "mine/mean_gap" in text and "stability/lecam_anchor_real" in text
    row = next(line for line in text.splitlines() if "mixup_r1_lecam" in line)
    assert row.split("|")[2].strip() == "3"  # the three seeds pooled in one row
    # the column is the mean over the seeds of each run's last logged value
    import json

    finals = [json.loads((d / "summary.json").read_text())["final"]["mine/mean_gap"] for d in dirs]
    mean = sum(finals) / 3
    assert f"{mean:.3g}" in row and all(math.isfinite(v) for v in finals)
