"""The toy GAN's sample picture: off-picture count, legend, and the final picture as a PNG in the run dir."""

import math

import numpy as np
import pytest
import torch

from mixgan.report.plots import off_picture, toy_samples_figure

from runhelp import train

pytestmark = pytest.mark.usefixtures("one_thread")


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_off_picture_count_is_the_hand_count():
    real = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.5]])  # the square: [-1.25, 1.25]²
    fake = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, -7.0], [math.nan, 0.0], [1.2, -1.2], [math.inf, 1.0],
                         [1.3, 0.0]])
    # Off the picture, by hand: (5, 0), (0, −7), (nan, 0), (inf, 1), (1.3, 0): 5 of 7.
    assert off_picture(fake.numpy(), -1.25, 1.25) == 5
    fig = toy_samples_figure(real, fake)
    assert "5/7 off-plot" in texts(fig)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["real", "generated"]
    # With σ(D) as the background the legend names it too, and the count uses the heat map's box.
    heat = (torch.full((4, 4), 0.5), (-6.0, 6.0))
    fig = toy_samples_figure(real, fake, heat)
    assert "3/7 off-plot" in texts(fig)  # (0, −7), nan, inf
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["real", "generated", "σ(D) (bar)"]
    # All on the picture: no note.
    assert not texts(toy_samples_figure(real, fake[:1]))


def test_compare_grid_counts_the_same_way():
    from mixgan.report.plots import _plt
    from mixgan.report.plots_compare import scatter_samples

    plt = _plt()
    fig, ax = plt.subplots()
    means = np.array([[-1.0, 0.0], [1.0, 0.0]])  # lim = 1 + 0.35
    samples = np.array([[0.0, 0.0], [1.3, 1.3], [1.4, 0.0], [np.nan, 0.0], [0.0, -9.0]])
    scatter_samples(ax, samples, means)
    assert [t.get_text() for t in ax.texts] == ["3/5 off-plot"]
    plt.close(fig)


def test_a_tiny_run_writes_its_final_picture(tmp_path):
    from PIL import Image

    run = train(tmp_path, "--mixup")
    png = run / "samples.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    with Image.open(png) as im:
        assert im.size == (340, 325)
    assert (run / "final_samples.npy").is_file()
