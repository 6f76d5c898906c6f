"""One training step per method. Each returns (loss, logits) of the pass that trained, detached.

standard: SGD on clean images.            sam / asam: SAM (or ASAM) on clean images.
at:       SGD on PGD examples.            sam-at:     SAM on PGD examples.

Under torchrun a step gets the global batch and a `sam_bench.distributed.Shard`: the process
trains on its slice, with the random numbers one process would have drawn for that slice.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch.nn.functional as F

from sam_bench.attacks import pgd
from sam_bench.attacks.pgd import at_least_fp32, random_perturbation
from sam_bench.training.optim import bn_stats_frozen

METHODS = ("standard", "sam", "asam", "at", "sam-at")
USES_SAM = {"sam", "asam", "sam-at"}
USES_ATTACK = {"at", "sam-at"}


def passes_per_step(method: str, attack_steps: int) -> int:
    """Forward-backward passes per training step: the cost unit of the paper's claim C4."""
    return (2 if method in USES_SAM else 1) + (attack_steps if method in USES_ATTACK else 0)


def adversarial_examples(model, x, y, attack: dict, autocast=nullcontext, start=None):
    """PGD examples for training: BatchNorm running statistics are not touched by attack passes."""
    with bn_stats_frozen(model), autocast():
        return pgd(model, x, y, random_start=True, start=start, **attack)


def sgd_step(model, optimizer, x, y, autocast=nullcontext):
    with autocast():
        logits = model(x)
        loss = F.cross_entropy(at_least_fp32(logits), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def sam_step(model, optimizer, x, y, autocast=nullcontext, first_pass=nullcontext):
    """`first_pass`: DDP's no_sync makes the ascent use this process's gradient only (m-sharpness)."""
    optimizer.zero_grad(set_to_none=True)
    with first_pass():
        with autocast():
            logits = model(x)
            loss = F.cross_entropy(at_least_fp32(logits), y)
        loss.backward()
    optimizer.first_step(zero_grad=True)
    with bn_stats_frozen(model), autocast():  # only the first pass updates BatchNorm statistics
        F.cross_entropy(at_least_fp32(model(x)), y).backward()
    optimizer.second_step(zero_grad=True)
    return loss.detach(), logits.detach()


def train_step(
    method: str, model, optimizer, x, y, attack: dict | None = None, autocast=nullcontext, shard=None, start=None
):
    """One step on the batch (x, y); with a `shard`, (x, y) is the global batch and the returned
    loss and logits are this process's slice's. `start`: the attack's random start for the batch
    (for the whole global batch under a shard); drawn here when not given."""
    attack_model, first_pass = model, nullcontext
    if shard is not None:
        attack_model, first_pass = shard.attack_model, shard.sam_first_pass
        if method in USES_ATTACK:
            assert attack is not None, f"{method} trains on attacks and needs their settings"
            if attack["eps"] > 0 and attack["steps"] > 0:  # else pgd() draws nothing
                # Drawn for the whole batch, as one process would, so every process's RNG stays in step.
                if start is None:
                    start = random_perturbation(x, attack["eps"], attack["norm"])
                start = shard.take(start)
        x, y = shard.take(x), shard.take(y)
    if method in USES_ATTACK:
        assert attack is not None, f"{method} trains on attacks and needs their settings"
        x = adversarial_examples(attack_model, x, y, attack, autocast, start)
    if method in USES_SAM:
        return sam_step(model, optimizer, x, y, autocast, first_pass)
    return sgd_step(model, optimizer, x, y, autocast)
