"""What an evaluation runs: one AttackSpec per attack and budget (clean, PGD, AutoAttack), made from the
options a user gives (`make_attacks`) by the attack's record (attack_table), each recorded in the results beside
its outcome."""

from __future__ import annotations

from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.threat_models import norm_names, threat_model

__all__ = ["AttackSpec", "make_attacks", "split"]


def split(text: str | None) -> list[str] | None:
    """A comma-separated option's parts (`--eps 0,1/255`), stripped, empty ones dropped; None for no text."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def make_attacks(
    attack: str,
    norm: str | None = "Linf",
    eps: list | None = None,
    *,
    steps: int = 10,
    step_size: str | float | None = None,
    restarts: int = 1,
    version: str = "standard",
    attacks: list[str] | None = None,
    seed: int = 0,
) -> list[AttackSpec]:
    """One spec per eps. eps: strings ('8/255') or floats; default RobustBench's budget for the threat model."""
    record = attack_table.attack(attack)
    options = attack_table.AttackOptions(steps, step_size, restarts, version, attacks, seed)
    if not record.threat_model:
        return record.specs([], None, options)
    if norm not in norm_names():
        raise BadInput(f"unknown norm {norm!r}; choose one of {', '.join(norm_names())}")
    tm = threat_model(norm)
    values = [tm.parse_budget(e) for e in (eps if eps else [tm.board_eps()])]
    return record.specs(list(dict.fromkeys(values)), norm, options)  # keep order, drop repeats
