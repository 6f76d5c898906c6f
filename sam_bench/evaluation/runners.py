"""The attacks as an evaluation runs them: (model, x, y, spec, batch_size, bar) -> AttackOutput. x, y are one
chunk on the model's device; the runner returns adversarial examples for all of them (the evaluation
classifies them again itself: `evaluate`). Each is its attack's `runner` in attack_table."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sam_bench.attacks import draws
from sam_bench.attacks.autoattack import autoattack, forward_passes_by_attack
from sam_bench.attacks.pgd import pgd
from sam_bench.evaluation.autoattack_progress import ChunkProgress


@dataclass
class AttackOutput:
    x_adv: torch.Tensor
    reported_correct: torch.Tensor | None = None  # what the attack itself says is still correct
    breakdown: dict[str, int] | None = None  # correct after each stage (AutoAttack)
    warnings: list[str] = field(default_factory=list)
    fooled_at: torch.Tensor | None = None  # per image, the stage that fooled it (AutoAttack's AutoAttackResult)


def run_clean(model, x, y, spec, batch_size, bar) -> AttackOutput:
    bar.update(len(x))
    return AttackOutput(x)


def run_pgd(model, x, y, spec, batch_size, bar) -> AttackOutput:
    # Like AutoAttack, only correctly classified points are attacked: a misclassified point is
    # its own adversarial example, and this keeps robust <= clean per example. Results that record
    # `settings.draws` draw each image's starts from its own CPU generator (attacks.draws).
    s = spec.params
    x_adv = x.clone()
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        with torch.no_grad():
            correct = model(xb).argmax(1) == yb
        if correct.any():
            attacked = xb[correct]
            starts = (
                draws.pgd_starts(attacked, spec.eps, str(spec.ball), s.seed) if draws.keyed(spec.settings) else None
            )
            x_adv[i : i + batch_size][correct] = pgd(
                model,
                attacked,
                yb[correct],
                spec.eps,
                spec.ball,
                steps=s.steps,
                step_size=s.step_size,
                restarts=s.restarts,
                random_start=s.random_start,
                starts=starts,
            )
        bar.update(len(xb))
    return AttackOutput(x_adv)


def run_autoattack(model, x, y, spec, batch_size, bar) -> AttackOutput:
    s = spec.params
    shown = [0]
    with torch.no_grad():
        num_classes = model(x[:1]).shape[1] if len(x) else 0  # FAB's cost grows with the classes
    costs = forward_passes_by_attack(s.version, str(spec.ball), s.attacks, s.restarts, num_classes)
    progress = ChunkProgress(len(x), costs)

    def advance(to: float, name: str = "") -> None:  # to: images' worth of the chunk's work done
        to = round(to)
        bar.update(to - shown[0])
        shown[0] = to
        bar.set_postfix_str(name)

    result = autoattack(
        model,
        x,
        y,
        eps=spec.eps,
        norm=spec.ball,
        version=s.version,
        attacks=s.attacks,
        seed=s.seed,
        restarts=s.restarts,
        batch_size=batch_size,
        on_attack=lambda name, attacked: advance(progress.position(name, attacked), name),
        keyed_draws=draws.keyed(spec.settings),
    )
    advance(len(x))
    return AttackOutput(result.x_adv, result.y_adv == y, result.breakdown, result.warnings, result.fooled_at)
