"""One training step per method (its record, what it is: training/method_table.py). Each returns (loss,
logits) of the pass that trained, detached.

standard: SGD on clean images.            sam / asam: SAM (or ASAM) on clean images.
at:       SGD on PGD examples.            sam-at:     SAM on PGD examples.
fgsm-rs, n-fgsm, fgsm: SGD on single-step (FGSM) examples, two passes per step like SAM:
  fgsm-rs (Wong, Rice, Kolter 2020, "Fast is better than free"): a uniform random start in the eps
          ball, one signed-gradient step of 1.25 eps (default), projected back into the eps ball;
  n-fgsm  (de Jorge et al. 2022, "Make some noise"): uniform noise in the 2 eps ball, one step of eps
          (default), and no projection: the example may lie up to 3 eps away;
  fgsm    (Goodfellow et al. 2015): no random start, one step of eps. It collapses (catastrophic
          overfitting) at large eps, which is what the overfitting guard of `training.guard` is for.
  Each clips the example to [0,1]; they are defined for Linf only.

Under torchrun a step gets the global batch and a `sam_bench.runtime.distributed.Shard`: the process
trains on its slice, with the random numbers one process would have drawn for that slice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from sam_bench.attacks import pgd
from sam_bench.attacks.pgd import at_least_fp32, random_perturbation
from sam_bench.training import method_table as table
from sam_bench.training.optim import bn_stats_frozen

# The step of a method that is not the table's composition (an attack, then SGD or SAM): called as
# step(model, optimizer, x, y, attack=..., autocast=..., shard=..., start=...) -> (loss, logits).
STEPS: dict[str, Callable] = {}


def attack_start(method: str, x, attack: dict):
    """The random start of a step's attack (drawn from the global RNG), or None where it draws none."""
    rule = table.method(method).single_step
    if rule is not None:
        noise = rule.noise * attack["eps"]
        return torch.empty_like(x).uniform_(-noise, noise) if noise > 0 else None
    if attack["eps"] > 0 and attack["steps"] > 0:  # else pgd() draws nothing
        return random_perturbation(x, attack["eps"], attack["norm"])
    return None


def single_step_examples(method: str, model, x, y, attack: dict, autocast=nullcontext, start=None):
    """FGSM examples (fgsm-rs, n-fgsm, fgsm): one signed-gradient step from `start` (the noise,
    drawn here when not given). The gradient is taken at the noisy image clipped to [0,1] (the
    model's input space); BatchNorm running statistics are not touched by the attack pass."""
    rule = table.method(method).single_step
    assert rule is not None, f"{method} is not a single-step method"
    eps, step = attack["eps"], attack["step_size"]
    x = x.detach()
    if start is None:
        start = attack_start(method, x, attack)
    delta = torch.zeros_like(x) if start is None else (x + start).clamp(0, 1) - x
    delta.requires_grad_(True)
    with bn_stats_frozen(model), autocast(), torch.enable_grad():
        loss = F.cross_entropy(at_least_fp32(model(x + delta)), y)
        (grad,) = torch.autograd.grad(loss, delta)
    with torch.no_grad():
        delta = delta.detach() + step * grad.sign()
        if rule.projected:
            delta = delta.clamp(-eps, eps)
        return (x + delta).clamp(0, 1)


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
    custom = STEPS.get(method)
    if custom is not None:
        return custom(model, optimizer, x, y, attack=attack, autocast=autocast, shard=shard, start=start)
    attack_model, first_pass = model, nullcontext
    if shard is not None:
        attack_model, first_pass = shard.attack_model, shard.sam_first_pass
        if table.uses_attack(method):
            assert attack is not None, f"{method} trains on attacks and needs their settings"
            # Drawn for the whole batch, as one process would, so every process's RNG stays in step.
            if start is None:
                start = attack_start(method, x, attack)
            if start is not None:
                start = shard.take(start)
        x, y = shard.take(x), shard.take(y)
    if table.single_step(method):
        assert attack is not None, f"{method} trains on attacks and needs their settings"
        x = single_step_examples(method, attack_model, x, y, attack, autocast, start)
    elif table.uses_attack(method):
        assert attack is not None, f"{method} trains on attacks and needs their settings"
        x = adversarial_examples(attack_model, x, y, attack, autocast, start)
    if table.uses_sam(method):
        return sam_step(model, optimizer, x, y, autocast, first_pass)
    return sgd_step(model, optimizer, x, y, autocast)
