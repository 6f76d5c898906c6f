"""AutoAttack (Croce & Hein 2020) through pyautoattack, keeping its per-attack breakdown.

`run_standard_evaluation` logs the accuracy after each attack and returns only the final examples, so the
configured attacks run one call each, on the points still robust, as it runs them internally: the adversary is
built with the requested version (its attacks' settings stay that version's), then `attacks_to_run` is narrowed to
one attack. Each call sees the same points in the same order and batches and reseeds from `seed` per batch, so the
result is the same. With `keyed_draws` every APGD start is drawn per image (sam_bench.attacks.draws)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from sam_bench.autoattack_versions import FORWARDS_PER_GRADIENT


@dataclass
class AutoAttackResult:
    x_adv: torch.Tensor  # x where no attack succeeded
    y_adv: torch.Tensor  # the labels AutoAttack itself saw on x_adv
    breakdown: dict[str, int]  # examples still correct: "clean", then after each attack, in order
    attacks: list[str]  # the attacks that ran, in order
    warnings: list[str] = field(default_factory=list)  # what pyautoattack's own checks flagged
    # per image, the position in `attacks` of the attack that fooled it (by AutoAttack's own count); len(attacks)
    # for an image none fooled, -1 for one the model got wrong before any attack
    fooled_at: torch.Tensor | None = None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"autoattack: {record.getMessage()}")


def require_pyautoattack() -> None:
    """AutoAttack comes from pyautoattack, imported only when an attack starts: callers check it up
    front, so that a missing package fails in one line at start-up, not after minutes of other work."""
    try:
        import pyautoattack  # noqa: F401
    except ImportError as err:
        from sam_bench.errors import SamBenchError

        raise SamBenchError(
            f"AutoAttack needs the pyautoattack package ({err}): pip install pyautoattack, or "
            "without network put its package folder on PYTHONPATH"
        ) from None


def _configure(adversary, version: str, restarts: int) -> None:
    """`custom` runs its attacks as `standard` would, with `restarts` restarts: pyautoattack's own
    default outside its versions is 5 restarts for APGD and FAB, five times the work of `standard`."""
    if version == "custom":
        adversary.apgd.n_restarts = adversary.apgd_targeted.n_restarts = adversary.fab.n_restarts = restarts
        adversary.apgd_targeted.n_target_classes = adversary.fab.n_target_classes = 9
        adversary.square.n_queries = 5000


def attack_config(adversary) -> dict:
    """What decides each attack's cost and strength, as the results record it."""
    return {
        "apgd-ce": {"restarts": adversary.apgd.n_restarts, "iterations": adversary.apgd.n_iter},
        "apgd-t": {
            "restarts": adversary.apgd_targeted.n_restarts,
            "target_classes": adversary.apgd_targeted.n_target_classes,
        },
        "fab-t": {"restarts": adversary.fab.n_restarts, "target_classes": adversary.fab.n_target_classes},
        "square": {"queries": adversary.square.n_queries, "restarts": adversary.square.n_restarts},
    }


def _attacks_to_run(version: str, attacks: list[str] | None) -> list[str] | None:
    """The attacks list AutoAttack takes: the chosen attacks for `custom` (which needs them), None otherwise."""
    if version != "custom":
        return None
    if attacks is None:
        raise ValueError("AutoAttack version 'custom' needs its list of attacks")
    return list(attacks)


def _adversary(version: str, norm: str, attacks: list[str] | None, restarts: int):
    """The version's adversary, configured, on no model (what it would run, not a run), and its attacks in order."""
    from pyautoattack import AutoAttack

    adversary = AutoAttack(
        torch.nn.Identity(), norm=norm, eps=0.0, version=version, attacks=_attacks_to_run(version, attacks)
    )
    _configure(adversary, version, restarts)
    return adversary, list(attacks or []) if version == "custom" else list(adversary.attacks_to_run)


def describe(version: str, norm: str, attacks: list[str] | None = None, restarts: int = 1) -> tuple[list[str], dict]:
    """The attacks a version runs, in order, and their configuration (without building any model)."""
    adversary, names = _adversary(version, norm, attacks, restarts)
    return names, attack_config(adversary)


def forward_passes(version: str, norm: str, attacks: list[str] | None, restarts: int, num_classes: int) -> int:
    """Forward passes (a gradient counted as FORWARDS_PER_GRADIENT) the version's attacks spend on an image none of
    them fools: every iteration of every restart and target, of every attack. The most one image costs, from
    which a timed probe is estimated before it starts (sam_bench.evaluation.evaluate)."""
    return sum(forward_passes_by_attack(version, norm, attacks, restarts, num_classes).values())


def forward_passes_by_attack(
    version: str, norm: str, attacks: list[str] | None, restarts: int, num_classes: int
) -> dict[str, int]:
    """`forward_passes` attack by attack, in the order the version runs them: what each costs an image it
    attacks (the progress bar weighs each attack by it: sam_bench.evaluation.autoattack_progress)."""
    adversary, names = _adversary(version, norm, attacks, restarts)
    apgd, targeted, fab, square = adversary.apgd, adversary.apgd_targeted, adversary.fab, adversary.square
    gradient = FORWARDS_PER_GRADIENT
    per_attack = {
        "apgd-ce": apgd.n_restarts * apgd.n_iter * apgd.eot_iter * gradient,
        "apgd-dlr": apgd.n_restarts * apgd.n_iter * apgd.eot_iter * gradient,
        "apgd-t": targeted.n_restarts * targeted.n_target_classes * targeted.n_iter * targeted.eot_iter * gradient,
        "fab": fab.n_restarts * fab.n_iter * (1 + (gradient - 1) * num_classes),  # a backward pass per class
        "fab-t": fab.n_restarts * fab.n_target_classes * fab.n_iter * (gradient + 1),  # and a forward to check
        "square": square.n_restarts * square.n_queries,  # one forward pass a query
    }
    return {name: per_attack[name] for name in names}


def attack_names(version: str, norm: str, attacks: list[str] | None = None) -> list[str]:
    """The attacks a version runs, in order (without building any model)."""
    return describe(version, norm, attacks)[0]


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted labels, batch by batch."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def autoattack(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "Linf",
    version: str = "standard",
    attacks: list[str] | None = None,
    seed: int = 0,
    batch_size: int = 250,
    on_attack=None,
    restarts: int = 1,
    stages: int | None = None,
    keyed_draws: bool = False,
) -> AutoAttackResult:
    """Run AutoAttack on (x, y), both on the model's device. `on_attack(name, images)` is called before each attack
    with the images it attacks (those still robust). `restarts`: version `custom` only. `stages`: only the version's
    first that many attacks, each as the whole run runs it (evaluation/autoattack_replay.py). `keyed_draws`: every
    APGD start drawn per image from `seed` (attacks.draws)."""
    from pyautoattack import AutoAttack

    from sam_bench import compat
    from sam_bench.attacks.draws import ApgdStarts

    x = x.contiguous()  # pyautoattack .view()s gradients shaped like x; channels-last x would break it
    adversary = AutoAttack(
        model,
        attacks=_attacks_to_run(version, attacks),
        device=x.device,
        eps=eps,
        norm=norm,
        seed=seed,
        version=version,
    )
    adversary.verbose = False  # progress and numbers are ours; its checks still warn (collected below)
    _configure(adversary, version, restarts)
    names = list(adversary.attacks_to_run)[:stages]

    y_adv = predict(model, x, batch_size)
    robust = y_adv == y
    x_adv = x.clone()
    breakdown = {"clean": int(robust.sum())}
    fooled_at = torch.where(robust, len(names), -1)
    starts = ApgdStarts(seed) if keyed_draws else None
    logger = logging.getLogger("auto-attack")
    collect, propagate = _Collect(), logger.propagate
    logger.addHandler(collect)
    logger.propagate = False
    try:
        for name in names:
            idx = robust.nonzero().flatten()
            if eps > 0 and len(idx):  # at eps 0 nothing can change: skip the (long) futile search
                if on_attack is not None:
                    on_attack(name, len(idx))
                adversary.attacks_to_run = [name]
                if starts is None:
                    xa, ya = adversary.run_standard_evaluation(x[idx], y[idx], batch_size=batch_size)
                else:
                    starts.begin(name)
                    with compat.apgd_starts(starts):
                        xa, ya = adversary.run_standard_evaluation(x[idx], y[idx], batch_size=batch_size)
                fooled = ya != y[idx]
                x_adv[idx[fooled]] = xa[fooled]
                y_adv[idx[fooled]] = ya[fooled]
                robust[idx[fooled]] = False
                fooled_at[idx[fooled]] = names.index(name)
            breakdown[name] = int(robust.sum())
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    return AutoAttackResult(x_adv, y_adv, breakdown, names, list(dict.fromkeys(collect.messages)), fooled_at)
