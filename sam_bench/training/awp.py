"""Adversarial weight perturbation (AWP; Wu, Xia, Wang 2020, arXiv:2004.05884): the flat-loss adversarial
training the paper sets SAM against (docs/training.md, "TRADES and AWP", says where it differs from AWP's code).

Before each descent, one ascent step on the weights of the method's own loss at its adversarial examples:

    v_l = gamma * ||w_l|| * g_l / ||g_l||,   g_l = d loss / d w_l  at w
    the descent's gradient is taken at w + v; the weights go back to w (exactly: saved, not subtracted)
    and the optimizer steps from w with that gradient

Layers are the weights of two or more dimensions (convolutions and linear layers), as in csdongxian/AWP
(`diff_in_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from sam_bench.training.optim import bn_stats_frozen

EPS = 1e-20  # csdongxian/AWP utils_awp.py: the norm of a zero gradient


def layers(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weights AWP perturbs: every parameter named '...weight' with two or more dimensions."""
    return [p for name, p in model.named_parameters() if p.requires_grad and p.dim() > 1 and name.endswith("weight")]


def perturbation(weights: list[torch.Tensor], grads: list[torch.Tensor], gamma: float) -> list[torch.Tensor]:
    """v_l = gamma * ||w_l|| / ||g_l|| * g_l, layer by layer."""
    return [gamma * w.norm() / (g.norm() + EPS) * g for w, g in zip(weights, grads)]


@contextmanager
def perturbed(model: torch.nn.Module, loss_at_w: Callable[[], torch.Tensor], gamma: float) -> Iterator[list]:
    """Inside: the model's weights at w + v, v the ascent of `loss_at_w` (computed here, at w, with
    BatchNorm's running statistics untouched). After: exactly w again. Yields v."""
    weights = layers(model)
    with bn_stats_frozen(model), torch.enable_grad():
        found = torch.autograd.grad(loss_at_w(), weights, allow_unused=True)  # the weights' .grad is not touched
    with torch.no_grad():
        grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, found)]
        v = perturbation([w.detach() for w in weights], grads, gamma)
        saved = [w.detach().clone() for w in weights]
        for w, e in zip(weights, v):
            w.add_(e)
    try:
        yield v
    finally:
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
