"""TRADES (Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan 2019, arXiv:1901.08573): its loss and its attack
(docs/training.md, "TRADES and AWP").

    loss = CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x'))    (mean over the batch)
    x'   = argmax of the KL term over the eps ball: PGD from x + N(0, 0.001^2), signed steps (Linf)

The gradient flows through both the clean and the adversarial predictions, as in yaodongyu/TRADES. Where
sam-bench differs from TRADES' own code beyond docs/training.md: the attack's target, softmax f(x), is computed
once per step (the same numbers, batch statistics being the batch's); the Gaussian start is clipped to [0, 1]
before the first step; L2 takes normalised-gradient steps projected into the ball (TRADES' code runs SGD on the
perturbation with its gradient renormalised: the same direction and step).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from sam_bench.attacks.pgd import at_least_fp32, project
from sam_bench.training.optim import bn_stats_frozen

START_SD = 0.001  # yaodongyu/TRADES trades.py: x + 0.001 * randn


def attack_start(x: torch.Tensor) -> torch.Tensor:
    """The attack's random start (drawn from the global RNG): Gaussian noise of sd 0.001."""
    return START_SD * torch.randn_like(x)


def examples(model, x: torch.Tensor, attack: dict, start: torch.Tensor, autocast=nullcontext) -> torch.Tensor:
    """TRADES' adversarial examples: `attack["steps"]` steps of `attack["step_size"]` ascending
    KL(p_clean || p_adv), projected into the eps ball and [0, 1]. Returns x' (detached)."""
    eps, norm, steps, step_size = attack["eps"], attack["norm"], attack["steps"], attack["step_size"]
    x = x.detach()
    with bn_stats_frozen(model), torch.no_grad(), autocast():
        target = F.softmax(at_least_fp32(model(x)), dim=1)
    delta = project(start, x, eps, norm)
    for _ in range(steps):
        delta.requires_grad_(True)
        with bn_stats_frozen(model), autocast(), torch.enable_grad():
            adversarial = at_least_fp32(model(x + delta))
            loss = F.kl_div(F.log_softmax(adversarial, dim=1), target, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "Linf":
                step = step_size * grad.sign()
            else:  # per example, the gradient scaled to L2 norm step_size
                norms = grad.flatten(1).norm(dim=1).view(-1, *([1] * (grad.dim() - 1)))
                step = step_size * grad / (norms + 1e-12)
            delta = project(delta.detach() + step, x, eps, norm)
    return (x + delta).detach()


def loss(clean_logits: torch.Tensor, adversarial_logits: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """TRADES' training loss: clean cross-entropy plus beta times the batch's mean KL(p_clean || p_adv)."""
    clean_logits, adversarial_logits = at_least_fp32(clean_logits), at_least_fp32(adversarial_logits)
    robust = F.kl_div(F.log_softmax(adversarial_logits, dim=1), F.softmax(clean_logits, dim=1), reduction="batchmean")
    return F.cross_entropy(clean_logits, y) + beta * robust
