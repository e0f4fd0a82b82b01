"""Shared pytest fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny models run much faster on one intra-op thread than on two contended ones (the shared
    2-core machine): modules that train them use this fixture (pytestmark)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A metrics cache with the digit classifier trained once for the whole session (never ~/.cache)."""
    from mixgan.trainers.digits_net import load_digit_classifier

    from runhelp import CLF

    folder = tmp_path_factory.mktemp("mixgan-cache")
    load_digit_classifier(folder, CLF["epochs"], 0, CLF["width"], 4 * CLF["width"])
    return folder
