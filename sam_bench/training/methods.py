"""One training step per method (its record, what it is: training/method_table.py; the table of methods in
docs/training.md). Each returns (loss, logits) of the pass that trained, detached.

The table's methods are compositions (an attack or none, then SGD or SAM); TRADES and AWP (training.trades,
training.awp) have steps of their own (STEPS) and train in one process (torchrun refuses them for now). Under
torchrun a step gets the global batch and a `sam_bench.runtime.distributed.Shard`: the process trains on its
slice, with the random numbers one process would have drawn for that slice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch
import torch.nn.functional as F

from sam_bench.attacks import pgd
from sam_bench.attacks.pgd import at_least_fp32, random_perturbation
from sam_bench.errors import BadInput
from sam_bench.training import awp, trades
from sam_bench.training import method_table as table
from sam_bench.training.optim import bn_stats_frozen

# The step of a method that is not the table's composition (an attack, then SGD or SAM): called as
# step(model, optimizer, x, y, attack=..., autocast=..., shard=..., start=..., settings=...) -> (loss, logits),
# `settings` the method's own settings this epoch (TrainConfig.step_settings: TRADES' beta, AWP's gamma).
# Filled in below, after the steps.
STEPS: dict[str, Callable] = {}


def attack_start(method: str, x, attack: dict, generator: torch.Generator | None = None):
    """The random start of a step's attack, or None where it draws none; drawn from `generator` (the
    capturable step's, training/static_step.py), else from the global RNG as the eager step always has."""
    rule = table.method(method).single_step
    if rule is not None:
        noise = rule.noise * attack["eps"]
        return torch.empty_like(x).uniform_(-noise, noise, generator=generator) if noise > 0 else None
    if attack["eps"] > 0 and attack["steps"] > 0:  # else pgd() draws nothing
        return random_perturbation(x, attack["eps"], attack["norm"], generator)
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


def descent(optimizer, loss_of: Callable, perturb_weights=None):
    """The optimizer's step with the gradient of `loss_of()` -> (loss, logits): taken at the weights, or
    inside `perturb_weights()` (AWP: at w + v, the weights back at w before the step)."""
    optimizer.zero_grad(set_to_none=True)
    with perturb_weights() if perturb_weights is not None else nullcontext():
        loss, logits = loss_of()
        loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def _one_process(method: str, shard) -> None:
    if shard is not None:
        raise BadInput(f"{method} trains in one process only; run it without torchrun")


def _weights_perturbed(model, loss_of: Callable, settings: dict):
    """AWP's perturbation for this step's descent, or None before its warm-up ends."""
    gamma = settings.get("awp_gamma")
    return None if gamma is None else (lambda: awp.perturbed(model, lambda: loss_of()[0], gamma))


def awp_at_step(model, optimizer, x, y, attack=None, autocast=nullcontext, shard=None, start=None, settings=None):
    """PGD AT's examples (the same random draws as `at`), then the descent at w + v."""
    _one_process("awp-at", shard)
    assert attack is not None, "awp-at trains on attacks and needs their settings"
    x = adversarial_examples(model, x, y, attack, autocast, start)

    def loss_of():
        with autocast():
            logits = model(x)
            return F.cross_entropy(at_least_fp32(logits), y), logits

    return descent(optimizer, loss_of, _weights_perturbed(model, loss_of, settings or {}))


def trades_step(
    model, optimizer, x, y, attack=None, autocast=nullcontext, shard=None, start=None, settings=None, name="trades"
):
    """TRADES' examples from its Gaussian start, then the descent on its loss (at w + v for awp-trades).
    BatchNorm's running statistics see the clean and the adversarial batch of the training loss."""
    _one_process(name, shard)
    assert attack is not None, f"{name} trains on attacks and needs their settings"
    settings = settings or {}
    x = x.detach()
    x_adv = trades.examples(model, x, attack, trades.attack_start(x) if start is None else start, autocast)

    def loss_of():
        with autocast():
            logits, adversarial = model(x), model(x_adv)
            return trades.loss(logits, adversarial, y, settings["beta"]), logits

    return descent(optimizer, loss_of, _weights_perturbed(model, loss_of, settings))


STEPS.update({"trades": trades_step, "awp-at": awp_at_step, "awp-trades": partial(trades_step, name="awp-trades")})


def train_step(
    method: str,
    model,
    optimizer,
    x,
    y,
    attack: dict | None = None,
    autocast=nullcontext,
    shard=None,
    start=None,
    settings: dict | None = None,
):
    """One step on the batch (x, y); with a `shard`, (x, y) is the global batch and the returned
    loss and logits are this process's slice's. `start`: the attack's random start for the batch
    (for the whole global batch under a shard); drawn here when not given. `settings`: the method's
    own settings this epoch (`TrainConfig.step_settings`), for the methods with a step of their own."""
    custom = STEPS.get(method)
    if custom is not None:
        return custom(
            model, optimizer, x, y, attack=attack, autocast=autocast, shard=shard, start=start, settings=settings
        )
    attack_model, first_pass = model, nullcontext
    if shard is not None:
        attack_model, first_pass = shard.attack_model, shard.sam_first_pass
        if table.uses_attack(method):
            assert attack is not None, f"{method} trains on attacks and needs their settings"
            # Drawn for the whole batch, as one process would, so every process's RNG stays in step.
            if start is None:
                start = attack_start(method, x, attack)
            if start is not None:
                start = shard.dist.take(start)
        x, y = shard.dist.take(x), shard.dist.take(y)
    if table.single_step(method):
        assert attack is not None, f"{method} trains on attacks and needs their settings"
        x = single_step_examples(method, attack_model, x, y, attack, autocast, start)
    elif table.uses_attack(method):
        assert attack is not None, f"{method} trains on attacks and needs their settings"
        x = adversarial_examples(attack_model, x, y, attack, autocast, start)
    if table.uses_sam(method):
        return sam_step(model, optimizer, x, y, autocast, first_pass)
    return sgd_step(model, optimizer, x, y, autocast)
