"""One training step per method. Each returns (loss, logits) of the pass that trained, detached.

standard: SGD on clean images.            sam / asam: SAM (or ASAM) on clean images.
at:       SGD on PGD examples.            sam-at:     SAM on PGD examples.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch.nn.functional as F

from .attacks import pgd
from .optim import bn_stats_frozen

METHODS = ("standard", "sam", "asam", "at", "sam-at")
USES_SAM = {"sam", "asam", "sam-at"}
USES_ATTACK = {"at", "sam-at"}


def passes_per_step(method: str, attack_steps: int) -> int:
    """Forward-backward passes per training step: the cost unit of the paper's claim C4."""
    return (2 if method in USES_SAM else 1) + (attack_steps if method in USES_ATTACK else 0)


def adversarial_examples(model, x, y, attack: dict, autocast=nullcontext):
    """PGD examples for training: BatchNorm running statistics are not touched by attack passes."""
    with bn_stats_frozen(model), autocast():
        return pgd(model, x, y, random_start=True, **attack)


def sgd_step(model, optimizer, x, y, autocast=nullcontext):
    with autocast():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def sam_step(model, optimizer, x, y, autocast=nullcontext):
    with autocast():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.first_step(zero_grad=True)
    with bn_stats_frozen(model), autocast():  # only the first pass updates BatchNorm statistics
        F.cross_entropy(model(x).float(), y).backward()
    optimizer.second_step(zero_grad=True)
    return loss.detach(), logits.detach()


def train_step(method: str, model, optimizer, x, y, attack: dict | None = None, autocast=nullcontext):
    if method in USES_ATTACK:
        x = adversarial_examples(model, x, y, attack, autocast)
    step = sam_step if method in USES_SAM else sgd_step
    return step(model, optimizer, x, y, autocast)
