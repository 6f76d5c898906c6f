"""What must hold for a robustness number to mean anything, checked on every evaluation. A broken invariant means
the number is wrong, so each check raises SamBenchError, never a warning; the checks look only at the adversarial
examples and our own re-scoring of them, not at what the attack says about itself."""

from __future__ import annotations

import torch

from sam_bench.errors import SamBenchError

TOLERANCE = 1e-6  # float32 rounding of x + delta; anything larger is a real step outside the ball


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example size of x_adv - x in `norm`, computed in float64 so rounding cannot hide a step."""
    delta = (x_adv.detach().double() - x.detach().double()).flatten(1)
    if norm == "Linf":
        return delta.abs().amax(dim=1) if delta.shape[1] else delta.new_zeros(len(delta))
    if norm == "L2":
        return delta.norm(dim=1)
    raise ValueError(f"unknown norm {norm!r}")


def check_eval_mode(model: torch.nn.Module, when: str) -> None:
    """BatchNorm in train mode scores each image by its batch and updates running statistics."""
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise SamBenchError(
            f"model is in train mode {when} ({len(training)} modules, e.g. {training[0]}); evaluations need eval mode"
        )


@torch.no_grad()
def check_deterministic(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Two passes over the same images must give the same logits, or accuracies are not repeatable
    (dropout or noise left on, a randomized defense: use AutoAttack's version 'rand' there)."""
    a, b = model(x).float(), model(x).float()
    scale = 1.0 + a.abs().max().item()
    if not torch.equal(a.argmax(1), b.argmax(1)) or (a - b).abs().max().item() > 1e-3 * scale:
        raise SamBenchError(
            "the model gives different outputs for the same images (randomness in eval mode?); "
            "its accuracy is not well defined"
        )


def check_adversarial_examples(x: torch.Tensor, x_adv: torch.Tensor, eps: float, norm: str | None) -> float:
    """Same shape, finite, pixels in [0,1], and within eps (+TOLERANCE) of x in the attack's norm; the largest
    perturbation found (in `norm`), for the record."""
    if x_adv.shape != x.shape:
        raise SamBenchError(f"the attack returned shape {tuple(x_adv.shape)} for inputs of shape {tuple(x.shape)}")
    if not torch.isfinite(x_adv).all():
        raise SamBenchError("the attack returned NaN or infinite pixels")
    lo, hi = x_adv.min().item(), x_adv.max().item()
    if lo < 0 or hi > 1:
        raise SamBenchError(f"the attack returned pixels outside [0,1] (min {lo:.6g}, max {hi:.6g})")
    if norm is None:  # no threat model (clean): nothing may change
        if not torch.equal(x_adv, x):
            raise SamBenchError("a clean evaluation changed its inputs")
        return 0.0
    sizes = perturbation_norms(x, x_adv, norm)
    largest = sizes.max().item() if len(sizes) else 0.0
    if largest > eps + TOLERANCE:
        n_out = int((sizes > eps + TOLERANCE).sum())
        raise SamBenchError(
            f"the attack stepped outside the {norm} ball: {n_out} of {len(sizes)} examples have "
            f"perturbations up to {largest:.6g} > eps {eps:.6g} (+{TOLERANCE:g})"
        )
    return largest


def check_accuracies(clean_correct: int, robust_correct: int, eps: float) -> None:
    """Robust accuracy cannot exceed clean accuracy (on the same images), and at eps 0 it equals it."""
    if robust_correct > clean_correct:
        raise SamBenchError(
            f"robust accuracy is above clean accuracy ({robust_correct} vs {clean_correct} "
            "correct): the attack or the model is broken"
        )
    if eps == 0 and robust_correct != clean_correct:
        raise SamBenchError(
            f"at eps 0 robust accuracy must equal clean accuracy, got {robust_correct} vs {clean_correct} correct"
        )
