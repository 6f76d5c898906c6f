"""One attack at one budget as an evaluation runs it and records it (made by `specs.make_attacks` from the
attack's record in `attack_table`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from sam_bench.eps import format_eps
from sam_bench.threat_models import TABLE as THREAT_MODELS


@dataclass(frozen=True)
class AttackSettings:
    """The settings code reads of an attack's recorded `settings` (the dict is what a results file records), read by
    name: a setting the dict lacks, or records as None, takes the default its readers assume."""

    steps: int = 0  # PGD's
    step_size: float = 0.0
    restarts: int = 1  # PGD's; AutoAttack's for --version custom (the other versions fix their own)
    random_start: bool = True
    version: str | None = None  # AutoAttack's (None: not recorded, no AutoAttack)
    attacks: list[str] = field(default_factory=list)  # AutoAttack's, in the order run
    seed: int = 0
    config: dict = field(default_factory=dict)  # AutoAttack's per-attack settings (attacks.autoattack.describe)

    @classmethod
    def from_settings(cls, settings: Mapping) -> AttackSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in settings.items() if k in names and v is not None})


@dataclass
class AttackSpec:
    attack: str  # an attack's name in attack_table (clean | pgd | autoattack), or any name with a `runner`
    norm: str | None  # the threat model's name (sam_bench.threat_models); None for clean
    eps: float
    settings: dict  # JSON-able: everything besides norm and eps that changes the result
    runner: Callable | None = None  # default: the attack's record's; tests plug broken ones in, spot checks seeded ones
    # Only the first N of the evaluation's images (None: all of them), e.g. AutoAttack on the first 1,000
    # where PGD takes 2,000: the slow attack on RobustBench's usual sample, the fast one on more images.
    n_examples: int | None = None

    @property
    def params(self) -> AttackSettings:
        return AttackSettings.from_settings(self.settings)

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
