"""Toy mixtures and the VEEGAN/PacGAN mode metrics."""

import math

import pytest
import torch

from mixgan.data import GAN_DATA
from mixgan.data.toy import grid_means, ring_means
from mixgan.metrics.toy import (
    ToyReference,
    density_coverage,
    directions,
    knn_radii,
    mixture_loglik,
    mode_stats,
    sliced_w1,
)
from mixgan.metrics.toy_reference import BLUR_FACTORS, NOISE, generators, reference_scores
from mixgan.streams import MemberStreams


def one_stream(seed: int) -> MemberStreams:
    return MemberStreams([torch.Generator().manual_seed(seed)])


def test_ring_means_follow_the_paper():
    m = ring_means(8, 1.0)
    assert torch.allclose(m.norm(dim=1), torch.ones(8))
    assert torch.allclose(m[0], torch.tensor([0.0, 1.0]), atol=1e-7)  # (sin 0, cos 0)
    assert torch.allclose(ring_means(8, 2.0).norm(dim=1), torch.full((8,), 2.0))


def test_grid_means_paper_and_pacgan():
    assert set(grid_means(5, 0.5)[:, 0].tolist()) == {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert set(grid_means(5, 2.0)[:, 1].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert grid_means(5, 0.5).unique(dim=0).shape == (25, 2)


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_samples_have_the_right_means_and_std(name, k):
    data = GAN_DATA[name](std=0.05, radius=2.0, spacing=2.0)
    x = data.sample(100_000, one_stream(0))[0]
    idx = torch.cdist(x, data.means).argmin(1)
    resid = x - data.means[idx]
    assert abs(resid.std().item() - 0.05) < 0.002
    assert resid.mean(0).abs().max() < 0.002
    counts = torch.bincount(idx, minlength=k).float() / x.shape[0]
    assert torch.allclose(counts, torch.full((k,), 1 / k), atol=0.01)


def test_members_draw_from_their_own_streams():
    data = GAN_DATA["grid25"]()
    stacked = data.sample(10, MemberStreams.from_seeds([7, 8], "cpu"))
    assert stacked.shape == (2, 10, 2)
    assert torch.equal(stacked[1], data.sample(10, one_stream(8))[0])  # alone or in a stack: the same


def test_sampling_is_seeded():
    data = GAN_DATA["grid25"]()
    a = data.sample(10, one_stream(7))[0]
    b = data.sample(10, one_stream(7))[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_real_samples_score_perfectly(name, k):
    data = GAN_DATA[name]()
    s = mode_stats(data.sample(2500, one_stream(1))[0], data.means, data.std)
    assert s["quality/modes"].item() == k
    assert s["quality/high_quality"].item() > 0.985  # 3σ in 2-D keeps 98.9%
    assert s["quality/reverse_kl"].item() < 0.02


def test_collapsed_samples_have_one_mode_and_max_kl():
    data = GAN_DATA["ring8"]()
    collapsed = data.means[3].expand(2500, 2) + 0.001 * torch.randn(2500, 2)
    s = mode_stats(collapsed, data.means, data.std)
    assert s["quality/modes"].item() == 1
    assert s["quality/high_quality"].item() == 1.0
    assert s["quality/reverse_kl"].item() == pytest.approx(math.log(8), rel=1e-5)


def test_far_or_nan_samples_are_not_high_quality():
    data = GAN_DATA["ring8"]()
    far = torch.full((100, 2), 5.0)
    far[0] = float("nan")
    s = mode_stats(far, data.means, data.std)
    assert s["quality/modes"].item() == 0 and s["quality/high_quality"].item() == 0
    assert s["quality/reverse_kl"].item() == pytest.approx(math.log(8))


def test_reverse_kl_hand_computed():
    # 3 of 4 HQ samples in mode 0, 1 in mode 1, of 8: KL = .75 log(.75·8) + .25 log(.25·8)
    data = GAN_DATA["ring8"]()
    pts = torch.stack([data.means[0]] * 3 + [data.means[1]])
    s = mode_stats(pts, data.means, data.std)
    expected = 0.75 * math.log(6) + 0.25 * math.log(2)
    assert s["quality/reverse_kl"].item() == pytest.approx(expected, rel=1e-5)
    assert s["quality/modes"].item() == 2


def test_mode_stats_of_stacked_members_equal_each_member_alone():
    # One call over (S, N, 2) gives each member exactly its own statistics (collapsed, spread, NaN).
    data = GAN_DATA["grid25"]()
    spread = data.sample(500, one_stream(3))[0]
    collapsed = data.means[4].expand(500, 2) + 0.001
    broken = spread.clone()
    broken[::3] = float("nan")
    stacked = mode_stats(torch.stack([spread, collapsed, broken]), data.means, data.std)
    for s, pts in enumerate((spread, collapsed, broken)):
        alone = mode_stats(pts, data.means, data.std)
        assert alone.keys() == stacked.keys()
        for k in alone:
            assert stacked[k][s].item() == pytest.approx(alone[k].item(), abs=1e-7), (s, k)
    assert stacked["quality/modes"].tolist()[1] == 1.0


# -- density / coverage, sliced W1, log-likelihood (metrics.toy) and the reference generators ---------
def test_density_coverage_equal_prdc():
    prdc = pytest.importorskip("prdc")  # Naeem et al.'s reference code (the `test` extra)
    import numpy as np

    data = GAN_DATA["grid25"]()
    real = data.sample(600, one_stream(0))[0]
    ref = generators(data)
    for name in ("the data (another draw)", "modes blurred, σ = 5·std", NOISE):
        fake = ref[name](500, torch.Generator().manual_seed(1))
        dens, cov = density_coverage(fake[None], real, knn_radii(real))
        want = prdc.compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=5)
        assert dens.item() == pytest.approx(float(want["density"]), abs=1e-3), name
        assert cov.item() == pytest.approx(float(np.asarray(want["coverage"])), abs=2e-3), name


def test_sliced_w1_is_the_mean_of_one_dimensional_w1():
    scipy_stats = pytest.importorskip("scipy.stats")
    data = GAN_DATA["ring8"]()
    real = data.sample(300, one_stream(0))[0]
    fake = torch.rand(300, 2) * 2 - 1
    dirs = directions(8)
    real_sorted = (real @ dirs.T).sort(0).values.T
    want = sum(scipy_stats.wasserstein_distance((fake @ d).numpy(), (real @ d).numpy()) for d in dirs) / 8
    assert sliced_w1(fake[None], real_sorted, dirs).item() == pytest.approx(want, rel=1e-5)
    assert sliced_w1(real[None], real_sorted, dirs).item() == pytest.approx(0, abs=1e-7)
    # a shift by v moves every slice by |v·θ|
    v = torch.tensor([0.3, -0.1])
    shifted = sliced_w1((real + v)[None], real_sorted, dirs).item()
    assert shifted == pytest.approx((dirs @ v).abs().mean().item(), rel=1e-4)
    assert sliced_w1(torch.full((1, 300, 2), float("nan")), real_sorted, dirs).item() == math.inf


def test_loglik_equals_the_mixture_density():
    from scipy.stats import multivariate_normal

    data = GAN_DATA["ring8"](std=0.05)
    x = data.sample(50, one_stream(2))[0]
    dens = sum(multivariate_normal(m.numpy(), 0.05**2).pdf(x.numpy()) for m in data.means) / 8
    assert mixture_loglik(x[None], data.means, data.std).item() == pytest.approx(
        float(torch.tensor(dens).log().mean()), rel=1e-4)


def test_scores_of_stacked_members_equal_each_member_alone():
    data = GAN_DATA["grid25"]()
    ref = ToyReference(data, 400, 400)
    pts = [data.sample(400, one_stream(3))[0], torch.rand(400, 2), data.means[4].expand(400, 2) + 0.001]
    pts[1][::7] = float("nan")
    stacked = ref.score(torch.stack(pts))
    for s, p in enumerate(pts):
        for k, v in ref.score(p[None]).items():
            assert stacked[k][s].item() == pytest.approx(v.item(), rel=1e-6, abs=1e-7), (s, k)


def test_references_rank_as_they_should_on_every_new_metric():
    # 20,000 generated points against the 2,500 fixed real ones: the ranking is certain at that size
    data = GAN_DATA["grid25"]()
    scores = reference_scores(ToyReference(data, 2500, 20000), {"q/": 20000})
    mean = {name: {k.removeprefix("q/"): sum(v) / len(v) for k, v in vals.items()}
            for name, vals in scores.items()}
    data_, one, noise = (mean[n] for n in ("the data (another draw)", "all mass on one mode", NOISE))
    blurred = [mean[f"modes blurred, σ = {f:g}·std"] for f in BLUR_FACTORS]  # σ growing
    # coverage: the data, then blur by σ, then noise, then one mode (it covers 1/25 of the balls)
    cov = [m["coverage"] for m in (data_, *blurred, noise, one)]
    assert cov == sorted(cov, reverse=True) and one["coverage"] < 0.05
    # sliced W1: the data nearest, then blur by σ, noise, and one mode farthest
    w1 = [m["sliced_w1"] for m in (data_, *blurred, noise, one)]
    assert w1 == sorted(w1)
    # density and log-likelihood are precision: one sharp mode scores like the data, blur and noise less
    for k in ("density", "loglik"):
        order = [m[k] for m in (data_, *blurred, noise)]
        assert order == sorted(order, reverse=True), k
        assert one[k] == pytest.approx(data_[k], abs=0.05), k
    assert data_["density"] == pytest.approx(1, abs=0.05) and noise["density"] < 0.02
    assert len(scores[NOISE]["q/density"]) > 1  # noise has several draws (its spread is tested against)
