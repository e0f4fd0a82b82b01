"""White-box adversarial examples for the robustness experiment (paper §3.3, Table 3): FGSM
(Goodfellow et al. 2015) and iterative FGSM (Kurakin et al. 2017), and top-1/top-5 error under them.

Models take pixels in [0, 1] (normalization is inside mixgan's Classifier), so ε is in pixel units
(the paper's ε = 4 on 0..255 images is 4/255 here) and adversarial images are clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixgan.metrics.classify import topk_correct

Clamp = tuple[float, float] | None
ATTACKS = ("fgsm", "ifgsm")


def input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """∇ₓ Σ_i CE(f(x_i), y_i): the direction that increases the loss fastest."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x).float(), y, reduction="sum"), x)
    return g


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, clamp: Clamp = (0.0, 1.0)) -> Tensor:
    """x_adv = clip(x + ε·sign(∇ₓ CE(f(x), y))): one step of size ε in the sign of the gradient."""
    adv = x + eps * input_gradient(model, x, y).sign()
    return adv.clamp(*clamp).detach() if clamp is not None else adv.detach()


def ifgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10,
          step_size: float | None = None, clamp: Clamp = (0.0, 1.0)) -> Tensor:
    """Iterative FGSM: x_{t+1} = Π_{‖·−x‖∞ ≤ ε}(x_t + a·sign(∇ CE(f(x_t), y))), a = ε/steps by default."""
    a = eps / steps if step_size is None else step_size
    adv = x.detach()
    for _ in range(steps):
        adv = adv + a * input_gradient(model, adv, y).sign()
        adv = torch.max(torch.min(adv, x + eps), x - eps)  # stay within ε of x (L∞ ball)
        if clamp is not None:
            adv = adv.clamp(*clamp)
    return adv.detach()


def make_attack(name: str, eps: float, steps: int = 10, clamp: Clamp = (0.0, 1.0)) -> Callable:
    """An attack(model, x, y) -> x_adv by name: fgsm or ifgsm."""
    if name == "fgsm":
        return lambda m, x, y: fgsm(m, x, y, eps, clamp)
    if name == "ifgsm":
        return lambda m, x, y: ifgsm(m, x, y, eps, steps, clamp=clamp)
    raise ValueError(f"unknown attack {name!r}; accepted: {', '.join(ATTACKS)}")


def attack_errors(model: nn.Module, x: Tensor, y: Tensor, attack: Callable | None,
                  batch_size: int = 500) -> tuple[float, float]:
    """(top-1, top-5) error in % of `model` on attack(model, x, y) (or on x when attack is None)."""
    was_training = model.training
    model.eval()
    c1 = c5 = 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xa = attack(model, xb, yb) if attack is not None else xb
        with torch.no_grad():
            logits = model(xa)
        c1 += float(topk_correct(logits, yb, 1))
        c5 += float(topk_correct(logits, yb, 5))
    model.train(was_training)
    n = max(y.shape[0], 1)
    return 100 * (1 - c1 / n), 100 * (1 - c5 / n)
