"""Projected gradient descent (Madry et al. 2018) in the Linf or L2 ball, with random start.

Gradients are taken for the input only (`torch.autograd.grad` w.r.t. the perturbation), so no
weight gradients are computed or accumulated during an attack.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

NORMS = ("Linf", "L2")


def at_least_fp32(logits: torch.Tensor) -> torch.Tensor:
    """Logits for the loss: bf16 (autocast) ones in fp32; fp64 ones stay fp64."""
    return logits if logits.dtype == torch.float64 else logits.float()


def l2_norms(v: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped to broadcast against v."""
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Into the eps ball around 0 and so that x + delta stays in [0,1]."""
    delta = delta.clamp(-eps, eps) if norm == "Linf" else delta * torch.clamp(eps / (l2_norms(delta) + 1e-12), max=1.0)
    return (x + delta).clamp(0, 1) - x


def random_perturbation(
    x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniform draw in the Linf ball, or a uniform direction at a uniform radius in the L2 ball, from
    `generator` (None: torch's global one). empty().normal_() and uniform_(0, 1) draw exactly what
    randn_like and rand draw from the same generator: runs trained before the argument existed keep their draws."""
    if norm == "Linf":
        return torch.empty_like(x).uniform_(-eps, eps, generator=generator)
    direction = torch.empty_like(x).normal_(generator=generator)
    radius = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
    radius.uniform_(0, 1, generator=generator)
    return in_l2_ball(direction, radius, eps)


def in_l2_ball(direction: torch.Tensor, radius: torch.Tensor, eps: float) -> torch.Tensor:
    """Each example's `direction` scaled to L2 norm `radius` x eps (radius shaped to broadcast: N x 1 x 1 x 1): how
    `random_perturbation` turns its normal and uniform draws into a point of the L2 ball."""
    return direction / (l2_norms(direction) + 1e-12) * radius * eps


def pgd(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    norm: str = "Linf",
    steps: int = 10,
    step_size: float | None = None,
    restarts: int = 1,
    random_start: bool = True,
    start: torch.Tensor | None = None,
    starts: Callable[[int], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Adversarial examples that maximise cross-entropy; with restarts, per example the first
    restart that fools the model wins (else the last one). Returns x_adv (detached).
    `start`: the first restart's random perturbation, drawn by the caller (see `random_perturbation`);
    `starts(r)`: every restart's, drawn by the caller (an evaluation's, image by image: attacks.draws)."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if eps == 0 or steps == 0:
        return x.detach().clone()
    step_size = eps / 4 if step_size is None else step_size
    x = x.detach()
    best = x.clone()
    still_correct = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for restart in range(max(1, restarts)):
        if random_start:
            if starts is not None:
                noise = starts(restart)
            elif start is not None and restart == 0:
                noise = start
            else:
                noise = random_perturbation(x, eps, norm)
            delta = project(noise, x, eps, norm)
        else:
            delta = torch.zeros_like(x)
        for _ in range(steps):
            delta.requires_grad_(True)
            with torch.enable_grad():  # works inside a caller's no_grad() too
                loss = F.cross_entropy(at_least_fp32(model(x + delta)), y)
                (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                step = step_size * grad.sign() if norm == "Linf" else step_size * grad / (l2_norms(grad) + 1e-12)
                delta = project(delta.detach() + step, x, eps, norm)
        x_adv = (x + delta).detach()
        if restarts <= 1:
            return x_adv
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        take = still_correct & fooled if restart < restarts - 1 else still_correct
        best[take] = x_adv[take]
        still_correct &= ~take
    return best
