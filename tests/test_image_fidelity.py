"""Image-GAN precision/recall and density/coverage (Naeem et al. 2020) on the FID features: the same numbers
as torch-fidelity and prdc, one feature extraction per evaluation, and what they say about real, collapsed
and noise images (offline digit-classifier features, 1,000 Stacked-digits images: seconds)."""

import contextlib
import io

import pytest
import torch
import torch_fidelity

from mixgan.data.images import digits_u8, stacked_digits
from mixgan.metrics import fidelity
from mixgan.trainers.digits_net import load_digit_classifier

from runhelp import CLF

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py (and its `cache` fixture)
N = 1000


@pytest.fixture(scope="module")
def digits(cache):
    """(extractor name, weights, real images, {name: fake images}) on Stacked digits."""
    net = load_digit_classifier(cache, CLF["epochs"], 0, CLF["width"], 4 * CLF["width"])
    x, y = digits_u8()
    real, held_out = stacked_digits(N, 11, x, y)[0], stacked_digits(N, 12, x, y)[0]
    fakes = {"held-out real": held_out,
             "collapsed": held_out[:1].expand_as(held_out).contiguous(),  # one image, N times
             "noise": torch.randint(0, 256, real.shape, dtype=torch.uint8,
                                    generator=torch.Generator().manual_seed(0))}
    return fidelity.register_digits(net.path, net.tag), net.path, real, fakes


def _features(name, weights, images):
    net = fidelity.DigitsExtractor(name, ["features"], feature_extractor_weights_path=str(weights)).eval()
    with torch.no_grad():
        return net(images)[0]


def test_density_coverage_equal_prdc_on_the_cached_real_features(digits, cache):
    prdc = pytest.importorskip("prdc")  # Naeem et al.'s reference code (the `test` extra)
    name, weights, real, fakes = digits
    kw = {"cache_root": cache / "prdc", "kid_subsets": 2, "kid_subset_size": 100}
    got = {k: fidelity.fidelity_metrics(fake, real, name, weights, "test-prdc", **kw)
           for k, fake in fakes.items()}
    # The real features torch-fidelity cached for FID/KID/precision/recall are the ones scored.
    (file,) = (cache / "prdc").glob("test-prdc-mixgan-digits-*-features-features.pt")
    real_features = torch.load(file, weights_only=True)
    assert torch.equal(real_features, _features(name, weights, real))
    for k, fake in fakes.items():
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
            want = prdc.compute_prdc(real_features.double().numpy(),
                                     _features(name, weights, fake).double().numpy(), nearest_k=5)
        assert got[k]["density"] == pytest.approx(float(want["density"]), abs=1e-4), k
        assert got[k]["coverage"] == pytest.approx(float(want["coverage"]), abs=1e-4), k
    # Another draw of the data: on the real manifold and covering it; one image repeated: no coverage;
    # noise: little coverage or recall (on these features its precision and density are not near 0:
    # docs/image-gans.md).
    same, one, noise = got["held-out real"], got["collapsed"], got["noise"]
    assert abs(same["density"] - 1) < 0.1 and same["coverage"] > 0.9 and same["precision"] > 0.9
    assert same["recall"] > 0.9
    assert one["coverage"] < 0.01 and one["recall"] < 0.01
    assert noise["coverage"] < 0.2 and noise["recall"] < 0.05 and noise["density"] < 0.7 * same["density"]


def test_one_extraction_per_evaluation_and_torch_fidelitys_numbers(digits, cache, monkeypatch):
    name, weights, real, fakes = digits
    fake = fakes["held-out real"]
    images, calls = [], []
    forward = fidelity.DigitsExtractor.forward
    monkeypatch.setattr(fidelity.DigitsExtractor, "forward",
                        lambda self, x: images.append(len(x)) or forward(self, x))
    calculate = fidelity.calculate_metrics
    monkeypatch.setattr(fidelity, "calculate_metrics", lambda **kw: calls.append(kw) or calculate(**kw))
    kw = {"cache_root": cache / "once", "kid_subsets": 3, "kid_subset_size": 200}
    first = fidelity.fidelity_metrics(fake, real, name, weights, "test-once", **kw)
    assert sum(images) == 2 * N  # fake and real, each once
    assert len(list((cache / "once").glob("test-once-mixgan-digits-*-knn5-features.pt"))) == 1  # real radii
    images.clear()
    assert fidelity.fidelity_metrics(fake, real, name, weights, "test-once", **kw) == first
    assert sum(images) == N  # the fake images only: the real features come from the cache
    images.clear()
    # torch-fidelity's own calculate_metrics with the same arguments: the same numbers, to the bit.
    want = torch_fidelity.calculate_metrics(**calls[-1])
    ours = {theirs: first[ours] for theirs, ours in fidelity.KEYS.items() if theirs in want}
    assert ours == {k: float(want[k]) for k in ours} and len(ours) == 5
