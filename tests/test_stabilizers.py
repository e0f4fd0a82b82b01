"""Stabilizers (objectives/stabilizers.py): each against a value worked out by hand on a tiny input,
base losses by hand, spectral norm against the largest singular value, and bad combinations."""

import math

import pytest
import torch

from mixgan.config.core import load_config
from mixgan.config.gan import GanObjective
from mixgan.models.mlp import mlp
from mixgan.models.stacked_mlp import StackedMLP
from mixgan.objectives import stabilizers as st
from mixgan.objectives.gan import ErmGan, MixupGan, make_gan_objective
from mixgan.streams import MemberStreams
from mixgan.train import main


def linear_critic(w: torch.Tensor, b: float = 0.3):
    """D(x) = w_s·x + b for member s: ∇ₓD = w_s everywhere. w: (S, d)."""
    return lambda x: (x * w[:, None, :]).sum(-1, keepdim=True) + b


def points(S=2, n=6, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(S, n, d, generator=g), torch.randn(S, n, d, generator=g)


def test_r1_r2_of_a_linear_critic_are_half_the_squared_weight_norm():
    w = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    real, fake = points()
    rand = MemberStreams.from_seeds([0, 1], "cpu")
    for name in ("r1", "r2"):
        got = st.penalty(name, linear_critic(w), real, fake, rand)
        assert got.tolist() == pytest.approx([0.5 * 25, 0.5 * 1])  # γ/2·‖w‖² with γ = 1


def test_r1_of_a_quadratic_critic_is_half_the_mean_squared_norm_of_the_points():
    real, fake = points()
    got = st.penalty("r1", lambda x: 0.5 * x.pow(2).sum(-1, keepdim=True), real, fake,
                     MemberStreams.from_seeds([0, 1], "cpu"))  # ∇ₓ ½‖x‖² = x
    assert got.tolist() == pytest.approx((0.5 * real.pow(2).sum(-1).mean(1)).tolist())


def test_gp_and_dragan_of_a_linear_critic_are_norm_minus_one_squared():
    # ‖∇D‖ = ‖w‖ at every interpolate or perturbed point: (‖w‖ − 1)², whatever the random draws.
    w = torch.tensor([[3.0, 4.0], [0.6, 0.8]])
    real, fake = points()
    for name in ("gp", "dragan"):
        got = st.penalty(name, linear_critic(w), real, fake, MemberStreams.from_seeds([0, 1], "cpu"))
        assert got.tolist() == pytest.approx([16.0, 0.0], abs=1e-5)


def test_gp_penalty_is_taken_at_real_fake_interpolates():
    # D(x) = ½‖x‖²: ∇ = x̂ = εx + (1 − ε)g(z) with ε the first uniform draw of each member's stream.
    real, fake = points(S=1, n=4)
    got = st.penalty("gp", lambda x: 0.5 * x.pow(2).sum(-1, keepdim=True), real, fake,
                     MemberStreams.from_seeds([5], "cpu"))
    eps = torch.rand(4, generator=torch.Generator().manual_seed(5))[:, None]
    point = eps * real[0] + (1 - eps) * fake[0]
    want = (point.norm(dim=1) - 1).pow(2).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_dragan_perturbs_by_c_times_the_unbiased_std_of_the_members_batch(monkeypatch):
    # With u = α = 1 the perturbed point is x + c·std(x); D(x) = ½‖x‖² has ∇ = x̂ there. On 3 × 2
    # elements the unbiased std (÷ 5) is √(6/5) times the authors' (÷ 6): the penalty tells them apart.
    monkeypatch.setattr(st, "_uniform_like", lambda rand, x, per: torch.ones(()))
    real, fake = points(S=2, n=3)
    got = st.penalty("dragan", lambda x: 0.5 * x.pow(2).sum(-1, keepdim=True), real, fake,
                     MemberStreams.from_seeds([0, 1], "cpu"), c=0.5)
    for s in range(2):
        x = real[s].double()
        mean = x.mean()
        for n, want_match in ((x.numel() - 1, True), (x.numel(), False)):
            std = ((x - mean).pow(2).sum() / n).sqrt()
            want = ((x + 0.5 * std).norm(dim=1) - 1).pow(2).mean().item()
            assert (got[s].item() == pytest.approx(want, rel=1e-5)) is want_match, n


def test_base_losses_by_hand():
    r, f = torch.tensor([[[2.0], [0.5]]]), torch.tensor([[[-1.0], [0.2]]])
    sp = torch.nn.functional.softplus
    cases = {
        "bce": (sp(-r).mean() + sp(f).mean(), -sp(f).mean()),
        "hinge": ((0 + 0.5) / 2 + (0 + 1.2) / 2, -(-1.0 + 0.2) / 2),
        "least_squares": (0.5 * ((1.0 + 0.25) / 2) + 0.5 * ((1.0 + 0.04) / 2), 0.5 * ((4.0 + 0.64) / 2)),
        "wasserstein": ((-1.0 + 0.2) / 2 - (2.0 + 0.5) / 2, -(-1.0 + 0.2) / 2),
    }
    for loss, (d_want, g_want) in cases.items():
        assert st.d_base_loss(r, f, loss).item() == pytest.approx(float(d_want)), loss
        assert st.g_base_loss(f, loss, "saturating").item() == pytest.approx(float(g_want)), loss
    assert st.g_base_loss(f, "bce", "non_saturating").item() == pytest.approx(sp(-f).mean().item())


def test_pacgan_packs_m_points_of_one_source_per_input():
    seen = []

    def D(x):
        seen.append(x.detach().clone())
        return x.sum(-1, keepdim=True)

    S, B, m = 2, 8, 4
    real, fake = torch.ones(S, B, 2), -torch.ones(S, B, 2)
    sections = [load_config(None, [("stabilizers.pack", m)], task="gan").stabilizers] * S
    for base in (ErmGan([GanObjective()] * S), MixupGan([GanObjective(name="mixup", pairs="real_fake")] * S)):
        seen.clear()
        obj = st.Stabilized(base, sections, d_steps=1)
        obj.d_loss(D, real, fake, MemberStreams.from_seeds([0, 1], "cpu"))
        x = seen[0]
        assert x.shape[-1] == 2 * m  # packed: (S, n/m, m·2)
        if isinstance(base, ErmGan):  # every packed input is all real (+1) or all generated (−1)
            assert x.shape == (S, 2 * B // m, 2 * m)
            assert ((x == 1).all(-1) | (x == -1).all(-1)).all()
        else:  # mixup mixes whole packs: a pack's m points share one λ, λ·1 + (1 − λ)·(−1)
            assert x.shape == (S, B // m, 2 * m)
            assert torch.allclose(x, x[..., :1].expand_as(x))


def test_instance_noise_anneals_and_penalty_weights_are_per_member():
    assert st.noise_std(0.4, "linear", 0.25) == pytest.approx(0.3)
    assert st.noise_std(0.4, "linear", 1.5) == 0.0
    assert st.noise_std(0.4, "exponential", 0.2) == pytest.approx(0.4 * math.exp(-1))
    assert st.noise_std(0.4, "constant", 0.9) == 0.4
    cfgs = [load_config(None, [("stabilizers.r1.weight", w), ("stabilizers.noise.std", 0.2 * w)], task="gan")
            for w in (1.0, 3.0)]
    obj = make_gan_objective([c.objective for c in cfgs], "cpu", [c.stabilizers for c in cfgs], 5)
    assert isinstance(obj, st.Stabilized)
    assert obj.penalties[0][0] == "r1" and obj.penalties[0][1].tolist() == [1.0, 3.0]
    obj.at_step(50, 100)
    assert obj.noise.tolist() == pytest.approx([0.1, 0.3])
    plain = load_config(None, [], task="gan")
    assert isinstance(make_gan_objective(plain.objective, "cpu", plain.stabilizers), ErmGan)  # off: as before


def test_lazy_penalty_weight_is_scaled_by_its_interval():
    # Which D steps of the run it runs on: tests/test_lazy_reg.py.
    cfg = load_config(None, [("stabilizers.r1.weight", 2.0), ("stabilizers.r1.every", 2)], task="gan")
    obj = make_gan_objective(cfg.objective, "cpu", cfg.stabilizers, d_steps=5)
    name, weight, every, _ = obj.penalties[0]
    assert (name, every) == ("r1", 2) and weight.item() == 2.0 * 2


def test_spectral_norm_divides_each_member_by_its_largest_singular_value():
    torch.manual_seed(0)
    nets = [mlp(2, 1, 16, 2) for _ in range(3)]
    D = StackedMLP(nets, spectral_norm=True)
    x = torch.randn(3, 10, 2)
    for _ in range(200):  # power iterations converge on the top singular vectors
        D(x)
    for i in range(len(D.weight)):
        W = D._normalized(i, update=False)
        for s in range(3):
            assert torch.linalg.matrix_norm(W[s].detach(), ord=2).item() == pytest.approx(1.0, rel=1e-3)
    # a member alone (S = 1) gets the same normalized weights as in the stack
    alone = StackedMLP([nets[1]], spectral_norm=True)
    for _ in range(200):
        alone(x[1:2])
    torch.testing.assert_close(alone._normalized(0, False)[0], D._normalized(0, False)[1],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("args, fragment", [
    (["--stabilizers.r3.weight=1"], "stabilizers.r3"),
    (["--stabilizers.r1.weight=-1"], "stabilizers.r1.weight"),
    (["--stabilizers.pack=3"], "stabilizers.pack"),
    (["--mixup", "--objective.loss=wasserstein"], "objective.loss"),
    (["--objective.loss=l1"], "objective.loss"),
    (["--stabilizers.noise.schedule=cosine"], "stabilizers.noise.schedule"),
    (["--mixup", "--objective.anneal=linear", "--objective.lam=beta"], "objective.anneal"),
    (["--mixup", "--objective.anneal=linear", "--objective.pairs=real_fake"], "objective.anneal"),
    (["--mixup", "--objective.anneal=step"], "objective.anneal"),
])
def test_bad_stabilizer_settings_are_one_line_before_anything_is_written(tmp_path, capsys, args, fragment):
    assert main([f"--run.dir={tmp_path / 'runs'}", "--run.progress=false", *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_resume_with_stabilizers_equals_uninterrupted(tmp_path, monkeypatch):
    # Spectral-norm vectors, the EMA of G and the noise schedule are part of the checkpoint/step.
    import json

    from mixgan.trainers.gan import GanTrainer

    from runhelp import TINY, ctrl_c_at, rows, train

    args = ["--stabilizers.spectral_norm=true", "--train.ema=0.9", "--stabilizers.noise.std=0.1",
            "--stabilizers.r1.weight=1", "--stabilizers.pack=2"]
    full = rows(train(tmp_path, *args, name="full"))
    assert "quality_ema/modes" in full[-1]
    restore = ctrl_c_at(monkeypatch, GanTrainer, 25)
    assert main([*TINY, f"--run.dir={tmp_path}", "--run.name=cut", *args]) == 130
    restore()
    assert main(["--resume", str(tmp_path / "cut"), "--run.progress=false"]) == 0
    assert rows(tmp_path / "cut") == full
    assert json.loads((tmp_path / "cut" / "summary.json").read_text())["status"] == "completed"


def test_a_wgan_critic_is_not_reported_as_a_probability(tmp_path):
    from runhelp import rows, train

    row = rows(train(tmp_path, "--objective.loss=wasserstein", "--stabilizers.gp.weight=1"))[-1]
    assert "stability/critic_real" in row and "stability/D_real" not in row
    from mixgan.rundir.dashboard import gan_layout

    charts = gan_layout(probability=False)["Stability"]
    assert not any(t.startswith("D(x)") for t in charts)
    assert any(p == r"^stability/critic_(real|fake)$" for tags in charts.values() for p in tags)


def test_image_gan_trains_with_r1_hinge_and_noise(tmp_path):
    from mixgan.trainers.image_gan import ImageGanTrainer

    cfg = load_config(None, [("data.n", 64), ("model.g_base", 8), ("model.d_base", 8),
                             ("model.latent_dim", 8), ("train.batch_size", 8), ("train.iterations", 4),
                             ("device", "cpu"),
                             ("objective.loss", "hinge"), ("stabilizers.r1.weight", 1.0),
                             ("stabilizers.noise.std", 0.1), ("metrics.cache_dir", str(tmp_path))],
                      task="image_gan")
    trainer = ImageGanTrainer(cfg, torch.device("cpu"))
    before = [p.detach().clone() for p in trainer.D.parameters()]
    trainer.advance()
    assert isinstance(trainer.objective, st.Stabilized)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.D.parameters()))
    assert all(torch.isfinite(p).all() for p in trainer.D.parameters())
