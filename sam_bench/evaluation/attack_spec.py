"""One attack at one budget as an evaluation runs it and records it (made by `specs.make_attacks` from the
attack's record in `attack_table`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sam_bench.eps import format_eps
from sam_bench.threat_models import TABLE as THREAT_MODELS


@dataclass
class AttackSpec:
    attack: str  # an attack's name in attack_table (clean | pgd | autoattack), or any name with a `runner`
    norm: str | None  # the threat model's name (sam_bench.threat_models); None for clean
    eps: float
    settings: dict  # JSON-able: everything besides norm and eps that changes the result
    runner: Callable | None = None  # default: the attack's record's; tests plug deliberately broken attacks in here
    # Only the first N of the evaluation's images (None: all of them), e.g. AutoAttack on the first 1,000
    # where PGD takes 2,000: the slow attack on RobustBench's usual sample, the fast one on more images.
    n_examples: int | None = None

    @property
    def ball(self) -> str | None:
        """The norm ball its adversarial examples must stay in (its threat model's `norm`); None: no ball, the
        images must come back unchanged (clean)."""
        return THREAT_MODELS[self.norm].norm if self.norm in THREAT_MODELS else self.norm

    def record(self) -> dict:
        return {
            "attack": self.attack,
            "norm": self.norm,
            "eps": format_eps(self.eps),
            "eps_value": self.eps,
            "settings": self.settings,
        }
