"""PacGAN's toy protocol (configs/gan/pacgan_grid.yaml) equals a plain PyTorch run of it, bit for bit.

The plain run below is written from the protocol (Lin et al. 2018; fjxmlzn/PacGAN's 2DGrid config):
a batch-norm MLP G without hidden biases (Blocks' batch norm: biased variance, ε = 1e-4, population
mean and stdev as running averages with weight 0.05), a maxout D, N(0, 0.02²) weights, a fixed training
set read in shuffled epochs (its points, the resampled pack slots and each epoch's order drawn from
generators seeded by the seed), Adam(1e-4, β1 0.8), and ALI's simultaneous update. From the same seed
and draws, mixgan's stacked trainer at S = 1 must give the same weights, statistics and Adam moments
after every step; and a member of a stack must equal its run alone (also under AVX2 kernels and 1/2
threads: .ci/run).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixgan.config.core import load_config
from mixgan.models.toy_layers import batch_norm
from mixgan.trainers.gan import GanTrainer

PRESET = "configs/gan/pacgan_grid.yaml"


class PlainBatchNorm(nn.Module):
    """Blocks' batch normalization for one network, written out."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_std", torch.ones(c))

    def forward(self, x):
        mean = x.mean(0)
        centered = x - mean
        std = (centered.square().mean(0) + 1e-4).sqrt()
        with torch.no_grad():
            self.running_mean.mul_(0.95).add_(mean, alpha=0.05)
            self.running_std.mul_(0.95).add_(std, alpha=0.05)
        return centered / std * self.weight + self.bias


class PlainMaxout(nn.Module):
    def forward(self, x):
        return x.view(*x.shape[:-1], 5, -1).max(-2).values  # unit u: max of u, H + u, ..., 4H + u


def normal_init(net: nn.Sequential) -> nn.Sequential:
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def plain_nets(seed: int, pack: int, width: int):
    """G, then D, each initialized as it is built, from torch's global stream seeded by the seed."""
    torch.manual_seed(seed)
    g_layers, d_layers = [], []
    for i in range(4):
        g_layers += [nn.Linear(2 if i == 0 else width, width, bias=False), PlainBatchNorm(width), nn.ReLU()]
    G = normal_init(nn.Sequential(*g_layers, nn.Linear(width, 2)))
    for i in range(3):
        d_layers += [nn.Linear(2 * pack if i == 0 else width // 2, width // 2 * 5), PlainMaxout()]
    return G, normal_init(nn.Sequential(*d_layers, nn.Linear(width // 2, 1)))


def adam(net: nn.Module) -> list[torch.optim.Adam]:
    """torch's Adam(1e-4, β1 0.8) as mixgan's stacks run it (trainers/adam_members.MemberAdam): the
    fused kernel on parameters of a multiple of 16 elements, foreach on the others."""
    aligned = [p for p in net.parameters() if p.numel() % 16 == 0]
    rest = [p for p in net.parameters() if p.numel() % 16]
    return [torch.optim.Adam(aligned, lr=1e-4, betas=(0.8, 0.999), fused=True),
            torch.optim.Adam(rest, lr=1e-4, betas=(0.8, 0.999), foreach=True)]


def plain_run(seed: int, steps: int, size: int, width: int):
    """PacGAN's protocol (m = 1), one network each, plain PyTorch; the state after every step."""
    G, D = plain_nets(seed, 1, width)
    means = torch.tensor([[i, j] for i in (-4.0, -2.0, 0.0, 2.0, 4.0) for j in (-4.0, -2.0, 0.0, 2.0, 4.0)])
    data_gen = torch.Generator().manual_seed(seed * 1_000_003 + 7_919)
    idx = torch.randint(25, (size,), generator=data_gen)
    points = means[idx] + 0.05 * torch.randn(size, 2, generator=data_gen)
    slots = torch.randint(size, (size, 1), generator=data_gen)  # the resampled pack slot of m = 1
    train_gen = torch.Generator().manual_seed(seed)
    opt_G, opt_D = adam(G), adam(D)
    states, per_epoch = [], size // 100
    for t in range(steps):
        epoch, k = divmod(t, per_epoch)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch * 7
                                                                               + 104_729))
        real = points[slots[order[k * 100:(k + 1) * 100], 0]]
        fake = G(torch.randn(100, 2, generator=train_gen))
        d = D(torch.cat([real, fake.detach()]))
        # D: softplus(−D(x)) + softplus(D(G(z)))
        loss_d = F.softplus(-d[:100]).mean() + F.softplus(d[100:]).mean()
        D.requires_grad_(False)
        loss_g = F.softplus(-D(fake)).mean()  # non-saturating; softplus(D(x)) is constant in G
        D.requires_grad_(True)
        for opt in (*opt_D, *opt_G):
            opt.zero_grad()
        loss_d.backward()
        loss_g.backward()
        for opt in (*opt_D, *opt_G):
            opt.step()
        moments = {p: opt.state[p]["exp_avg_sq"] for opt in opt_G for p in opt.param_groups[0]["params"]}
        states.append(({k: v.clone() for k, v in G.state_dict().items()},
                       {k: v.clone() for k, v in D.state_dict().items()},
                       [moments[p].clone() for p in G.parameters()]))
    return states


def protocol_trainer(seeds, pack: int = 1, size: int = 1000, width: int = 64) -> GanTrainer:
    over = [("train.dataset_size", size), ("model.g.hidden", width), ("model.d.hidden", width // 2),
            ("stabilizers.pack", pack), ("train.iterations", 50)]
    return GanTrainer([load_config(PRESET, [("seed", s), *over]) for s in seeds], torch.device("cpu"))


def test_the_protocol_equals_a_plain_pytorch_run_bit_for_bit():
    steps = 13  # over an epoch boundary (10 batches of 100 in a set of 1,000)
    want = plain_run(3, steps, 1000, 64)
    trainer = protocol_trainer([3])
    for t in range(steps):
        trainer.advance()
        state = trainer.member_state(0)
        G, D, v_G = want[t]
        for got, ref in ((state["G"], G), (state["D"], D)):
            assert set(got) == set(ref)
            for k in ref:
                assert torch.equal(got[k], ref[k]), f"step {t}: {k}"
        for i, v in enumerate(v_G):
            assert torch.equal(state["opt_G"]["state"][i]["exp_avg_sq"], v), f"step {t}: Adam G[{i}]"


@pytest.mark.parametrize("pack", [1, 3])
def test_a_member_of_a_protocol_stack_equals_its_run_alone(pack):
    from test_equivalence import assert_member_equals_alone

    alone, stack = protocol_trainer([5], pack), protocol_trainer([2, 5, 9], pack)
    for _ in range(4):
        alone.advance()
        stack.advance()
        assert_member_equals_alone(stack, 1, alone)
    assert alone.batches == stack.batches == 4


def test_batch_norm_groups_are_the_pack_slots_batches():
    # PacGAN-m runs G once per pack slot: rows j, j + m, ... are one batch (to float tolerance: a
    # strided sum is ordered differently from a contiguous one).
    x, w, b = torch.randn(1, 400, 16), torch.rand(1, 16), torch.rand(1, 16)
    rm, rs = torch.zeros(1, 16), torch.ones(1, 16)
    y = batch_norm(x, w, b, rm, rs, True, 0.05, 1e-4, groups=4)
    slot_means = []
    for j in range(4):
        rm_j, rs_j = torch.zeros(1, 16), torch.ones(1, 16)
        torch.testing.assert_close(y[:, j::4], batch_norm(x[:, j::4].contiguous(), w, b, rm_j, rs_j, True,
                                                          0.05, 1e-4))
        slot_means.append(rm_j)
    torch.testing.assert_close(rm, torch.stack(slot_means).mean(0))
    # and the ordinary BatchNorm's normalization, to float tolerance (its variance is the biased one
    # in training too; only the running statistics differ)
    ref = F.batch_norm(x[0, 0::4], None, None, w[0], b[0], training=True, eps=1e-4)
    torch.testing.assert_close(y[0, 0::4], ref, rtol=1e-4, atol=1e-5)


def test_population_statistics_are_used_when_sampling():
    trainer = protocol_trainer([1])
    trainer.advance()
    z = torch.randn(7, 2)
    one = trainer.G.member(0)(z)
    torch.testing.assert_close(trainer.G.member(0)(z[:3]), one[:3])  # no batch statistics: rows independent
    assert torch.isfinite(one).all()


def test_the_preset_runs_from_the_command_line_with_packs(tmp_path, capsys):
    # What a user types (issue 31), shortened: a progress bar's worth of iterations and the summary.
    from mixgan.train import main

    from runhelp import rows

    code = main(["--config", PRESET, "--stabilizers.pack=4", "--train.iterations=12", "--metrics.every=6",
                 "--train.dataset_size=1000", "--model.g.hidden=32", "--model.d.hidden=16",
                 "--metrics.n_samples=300", "--metrics.final_samples=0", f"--run.dir={tmp_path}",
                 "--run.name=pac4"])
    assert code == 0
    assert [r["step"] for r in rows(tmp_path / "pac4")] == [6, 12]
    assert "quality/modes" in capsys.readouterr().out


def test_a_toy_family_registered_by_a_plugin_trains(monkeypatch):
    # A new toy architecture is one builder and one registration (entry-point group mixgan.toy_models).
    from mixgan.models.toy_layers import TOY_MODELS, ToyFamily

    def wide_tanh(n_in, n_out, hidden, depth, activation="relu", bias=True, pieces=5):
        return nn.Sequential(nn.Linear(n_in, 2 * hidden), nn.Tanh(), nn.Linear(2 * hidden, n_out))

    monkeypatch.setitem(TOY_MODELS._entries, "wide_tanh", ToyFamily(wide_tanh, ()))
    cfg = load_config(None, [("model.d.name", "wide_tanh"), ("model.hidden", 8), ("train.iterations", 3)])
    trainer = GanTrainer([cfg], torch.device("cpu"))
    trainer.advance()
    assert trainer.member_state(0)["D"]["0.weight"].shape == (16, 2)


@pytest.mark.parametrize("override,message", [
    ([("model.g.name", "resnet")], "model.g.name"),
    ([("model.d.name", "maxout"), ("stabilizers.spectral_norm", True)], "stabilizers.spectral_norm"),
    ([("train.update", "simultaneous")], "train.d_steps"),
    ([("train.update", "both")], "train.update"),
    ([("train.dataset_size", 10)], "train.dataset_size"),
    ([("train.batch_of", "pairs")], "train.batch_of"),
    ([("train.g_lr", 0.0)], "train.g_lr"),
    ([("model.activation", "gelu")], "model.activation"),
])
def test_protocol_settings_are_checked_in_one_line(override, message):
    from mixgan.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, override)
