"""Classifier objectives: ERM is mixup at λ = 1, the mixup loss is CE against mixed soft targets,
and the Table 5 ablation options (pairing, KNN, inputs only, hidden layer, smoothing, noise)."""

import pytest
import torch
import torch.nn.functional as F

import mixgan.objectives.classify as obj
from mixgan.config.classify import ClassifyObjective
from mixgan.models.cnn import MLPClassifier, SmallCNN
from mixgan.objectives.classify import Erm, Mixup, knn_table, make_classify_objective, pair_index


def _batch(n=16, d=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def _net(d=5, k=4):
    torch.manual_seed(0)
    return MLPClassifier(d, 16, 2, k)


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixup_with_lambda_one_is_erm_bit_for_bit(monkeypatch, per_sample):
    x, y = _batch()
    net = _net()
    erm = Erm()(net, x, y, torch.Generator().manual_seed(1))
    erm_grads = torch.autograd.grad(erm.loss, list(net.parameters()))
    monkeypatch.setattr(obj, "sample_lambda", lambda n, *a, **k: torch.ones(n))
    mixed = Mixup(alpha=1.0, per_sample=per_sample)(net, x, y, torch.Generator().manual_seed(1))
    mix_grads = torch.autograd.grad(mixed.loss, list(net.parameters()))
    assert torch.equal(erm.loss, mixed.loss) and torch.equal(erm.correct, mixed.correct)
    assert all(torch.equal(a, b) for a, b in zip(erm_grads, mix_grads))


@pytest.mark.parametrize("per_sample", [False, True])
def test_mixup_loss_is_ce_against_mixed_soft_targets(per_sample):
    x, y = _batch()
    net = _net()
    m = Mixup(alpha=1.0, per_sample=per_sample)
    out = m(net, x, y, torch.Generator().manual_seed(3))
    # Replay the same draws: λ first, then the partner permutation.
    g = torch.Generator().manual_seed(3)
    lam = m.sample_lambda(16, g)
    idx = torch.randperm(16, generator=g)
    assert per_sample == (lam.unique().numel() > 1)
    x_mix = lam[:, None] * x + (1 - lam[:, None]) * x[idx]
    soft = lam[:, None] * F.one_hot(y, 4) + (1 - lam[:, None]) * F.one_hot(y[idx], 4)
    logits = net(x_mix)
    expected = F.cross_entropy(logits, soft.float(), reduction="sum")
    assert torch.allclose(out.loss, expected, rtol=1e-5)
    pred = logits.argmax(1)
    acc = (lam * (pred == y) + (1 - lam) * (pred == y[idx])).sum()
    assert torch.allclose(out.correct, acc)


def test_label_smoothing_and_inputs_only():
    x, y = _batch()
    net = _net()
    out = Erm(label_smoothing=0.1)(net, x, y, torch.Generator())
    smooth = 0.9 * F.one_hot(y, 4) + 0.1 / 4
    assert torch.allclose(out.loss, F.cross_entropy(net(x), smooth, reduction="sum"), rtol=1e-5)
    m = Mixup(alpha=1.0, mix_labels=False)
    out = m(net, x, y, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    lam, idx = m.sample_lambda(16, g), torch.randperm(16, generator=g)
    expected = F.cross_entropy(net(lam[:, None] * x + (1 - lam[:, None]) * x[idx]), y, reduction="sum")
    assert torch.allclose(out.loss, expected, rtol=1e-5)  # the target stays y_i


def test_input_noise_has_the_requested_std():
    x = torch.zeros(4000, 5)
    seen = {}

    def spy(inp, **kw):
        seen["x"] = inp
        return torch.zeros(inp.shape[0], 3, requires_grad=True)

    Erm(input_noise=0.2)(spy, x, torch.zeros(4000, dtype=torch.long), torch.Generator().manual_seed(0))
    assert abs(float(seen["x"].std()) - 0.2) < 0.01 and abs(float(seen["x"].mean())) < 0.01


@pytest.mark.parametrize("pairing", ["same_class", "other_class"])
def test_class_pairing(pairing):
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])  # class 3 has a single example
    idx = pair_index(y, pairing, torch.Generator().manual_seed(0))
    for i, j in enumerate(idx.tolist()):
        if pairing == "same_class":
            assert (y[j] == y[i]) and (j != i or i == 9)
        else:
            assert y[j] != y[i]
    alone = pair_index(torch.zeros(5, dtype=torch.long), "other_class", torch.Generator())
    assert alone.tolist() == [0, 1, 2, 3, 4]  # no other class in the batch: paired with itself


def test_knn_table_matches_brute_force():
    x, y = _batch(n=40, d=3, k=2, seed=5)
    table = knn_table(x, y, 4, chunk=7)
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    assert torch.equal(table.sort(1).values, d.topk(4, largest=False).indices.sort(1).values)
    same = knn_table(x, y, 3, "same_class")
    assert (y[same] == y[:, None]).all()


def test_hidden_layer_mixing_uses_the_hook():
    x = torch.randn(8, 1, 8, 8)
    y = torch.arange(8) % 4
    torch.manual_seed(0)
    net = SmallCNN(1, 4, width=4, hidden=8).eval()
    m = Mixup(alpha=1.0, mix_layer=2)
    out = m(net, x, y, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    lam, idx = m.sample_lambda(8, g), torch.randperm(8, generator=g)
    lv = lam.view(-1, 1, 1, 1)
    logits = net(x, mix_layer=2, mix_fn=lambda h: lv * h + (1 - lv) * h[idx])
    expected = (lam * F.cross_entropy(logits, y, reduction="none")
                + (1 - lam) * F.cross_entropy(logits, y[idx], reduction="none")).sum()
    assert torch.allclose(out.loss, expected, rtol=1e-5)
    assert not torch.allclose(out.loss, Mixup(alpha=1.0)(net, x, y, torch.Generator().manual_seed(4)).loss)


def test_factory_from_config():
    assert type(make_classify_objective(ClassifyObjective())) is Erm
    m = make_classify_objective(ClassifyObjective(name="mixup", alpha=8.0, neighbors=3))
    assert isinstance(m, Mixup) and m.alpha == 8.0 and m.needs_partners
