"""The fast toy-GAN step (trainers/cuda_graph.py): eager on the CPU, CUDA graphs on CUDA, same maths
either way."""

import pytest
import torch

from mixgan.config.core import load_config
from mixgan.trainers.cuda_graph import ENV, GraphedIteration, fast_iteration
from mixgan.trainers.gan import GanTrainer

from runhelp import rows, train

PAPER = [("objective.name", "mixup"), ("objective.pairs", "real_fake"), ("objective.lam", "beta")]


def trainer(device: str = "cpu", *extra) -> GanTrainer:
    cfg = load_config(None, [("model.hidden", 32), ("metrics.n_samples", 200), ("device", device),
                             *PAPER, *extra], task="gan")
    return GanTrainer(cfg, torch.device(device))


def test_cpu_runs_the_eager_step_even_when_graphs_are_asked_for(monkeypatch):
    monkeypatch.setenv(ENV, "1")
    t = trainer()
    assert t._fast == t._iteration  # the plain bound method: no graph machinery on the CPU
    assert fast_iteration(t._iteration, torch.device("cpu"), t.rand.generators) == t._iteration


def test_cuda_adam_is_capturable_fused_adam_and_the_cpu_one_foreach():
    # CUDA: Adam(fused, capturable), so that the eager and the graphed step run one optimizer; the
    # capturable flag changes where the step count lives, not the maths (checked here on the CPU,
    # where both exist). CPU: foreach, whose rounding does not depend on an element's position
    # (tests/test_equivalence.py).
    from mixgan.trainers.gan import make_adam

    cfg = load_config(None, []).train
    cuda = make_adam([torch.nn.Parameter(torch.zeros(1))], cfg, torch.device("cuda")).defaults
    cpu = make_adam([torch.nn.Parameter(torch.zeros(1))], cfg, torch.device("cpu")).defaults
    assert cuda["fused"] and cuda["capturable"] and not cpu["fused"] and cpu["foreach"]
    plain, capt = trainer(), trainer()
    for name in ("G", "D"):
        for t, capturable in ((plain, False), (capt, True)):
            setattr(t, f"opt_{name}", torch.optim.Adam(getattr(t, name).parameters(), lr=cfg.lr,
                                                       betas=(cfg.beta1, cfg.beta2), fused=True,
                                                       capturable=capturable))
    for _ in range(8):
        a, b = plain.train_step(), capt.train_step()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(p, q) for p, q in zip(plain.G.parameters(), capt.G.parameters()))


def test_window_stays_one_tensor_through_measure_and_resume():
    # A captured graph adds into the window tensor it saw at capture: reset and load are in place.
    t = trainer()
    window = t.window
    expected = torch.zeros(1, 4)  # (members, window keys)
    keys = ("loss/D", "loss/G", "stability/grad_norm_D", "stability/grad_norm_G")
    for _ in range(3):
        out = t.train_step()
        t.window += torch.stack([out[k] for k in keys], 1)
        expected += torch.stack([out[k] for k in keys], 1)
    t.window_n = 3
    assert torch.equal(t.window, expected)
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in t.state_dict().items()}
    t.measure()
    assert t.window is window and not t.window.any()
    t.load_state_dict(state)
    assert t.window is window and torch.equal(window, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_is_captured_and_equals_the_eager_step(monkeypatch):
    graphed = trainer("cuda")
    monkeypatch.setenv(ENV, "0")
    eager = trainer("cuda")
    assert isinstance(graphed._fast, GraphedIteration) and eager._fast == eager._iteration
    for _ in range(12):
        graphed.advance()
        eager.advance()
    assert graphed._fast.captured and graphed._fast.failed is None
    torch.testing.assert_close(graphed.window, eager.window, rtol=1e-4, atol=1e-5)
    a, b = graphed.measure(), eager.measure()
    assert a == pytest.approx(b, rel=1e-3, abs=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_falls_back_to_eager_when_capture_fails():
    calls = []

    def step_with_host_sync():
        calls.append(1)
        torch.ones(1, device="cuda").item()  # a host sync cannot be captured

    it = GraphedIteration(step_with_host_sync, [], warmup=1)
    with pytest.warns(UserWarning, match="capture failed"):
        for _ in range(3):
            it()
    assert it.failed and not it.captured and len(calls) >= 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_resume_equals_uninterrupted(tmp_path):
    args = ["--device=cuda", "--mixup", "--objective.pairs=real_fake", "--objective.lam=beta"]
    full = rows(train(tmp_path, *args, name="full"))
    part = train(tmp_path, *args, "--train.iterations=20", name="part")
    from mixgan.train import main

    assert main(["--resume", str(part), "--train.iterations=40", "--run.progress=false"]) == 0
    for got, want in zip(rows(part), full):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4)
