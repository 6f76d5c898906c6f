"""What an evaluation runs: one AttackSpec per attack and budget (clean, PGD, AutoAttack), made from the
options a user gives (`make_attacks`), each recorded in the results beside its outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sam_bench.attacks import NORMS
from sam_bench.attacks.autoattack import (
    ATTACK_NAMES,
    FORWARDS_PER_GRADIENT,
    VERSIONS,
    describe,
    forward_passes,
    require_pyautoattack,
)
from sam_bench.eps import ROBUSTBENCH_BUDGETS, check_budget, format_eps, parse_eps
from sam_bench.errors import BadInput

ATTACKS = ("clean", "pgd", "autoattack")
# ROBUSTBENCH_BUDGETS (RobustBench's leaderboard budgets) is declared in sam_bench.eps and read from here too.


@dataclass
class AttackSpec:
    attack: str  # clean | pgd | autoattack (or any name, with a `runner`)
    norm: str | None  # Linf | L2; None for clean
    eps: float
    settings: dict  # JSON-able: everything besides norm and eps that changes the result
    runner: Callable | None = None  # default RUNNERS[attack]; tests plug deliberately broken attacks in here
    # Only the first N of the evaluation's images (None: all of them), e.g. AutoAttack on the first 1,000
    # where PGD takes 2,000: the slow attack on RobustBench's usual sample, the fast one on more images.
    n_examples: int | None = None

    def forward_passes(self, num_classes: int) -> int | None:
        """At most how many forward passes (a gradient counted as several: attacks.autoattack) the attack spends on
        one image; None for a runner of its own, whose cost nothing here knows."""
        s = self.settings
        if self.runner is not None:
            return None
        if self.attack == "pgd":  # each step a gradient; with restarts, a forward to see what each fooled
            return s["restarts"] * (s["steps"] * FORWARDS_PER_GRADIENT + 1)
        if self.attack == "autoattack" and self.norm is not None:
            return forward_passes(s["version"], self.norm, s["attacks"], s.get("restarts", 1), num_classes)
        return 0  # clean: the clean pass is all it needs

    def record(self) -> dict:
        return {
            "attack": self.attack,
            "norm": self.norm,
            "eps": format_eps(self.eps),
            "eps_value": self.eps,
            "settings": self.settings,
        }


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
    """One spec per eps. eps: strings ('8/255') or floats; default RobustBench's budget for the norm."""
    if attack not in ATTACKS:
        raise BadInput(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    if attack == "clean":
        return [AttackSpec("clean", None, 0.0, {})]
    if norm not in NORMS:
        raise BadInput(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    values = [check_budget(parse_eps(e), norm) for e in (eps if eps else [ROBUSTBENCH_BUDGETS[norm]])]
    values = list(dict.fromkeys(values))  # keep order, drop repeats
    if attack == "pgd":
        if steps < 1 or restarts < 1:
            raise BadInput("--steps and --restarts must be >= 1")
        fixed_step = None if step_size is None else parse_eps(step_size)
        if fixed_step == 0:
            raise BadInput("--step-size must be > 0")
        return [
            AttackSpec(
                "pgd",
                norm,
                e,
                {
                    "steps": steps,
                    "step_size": e / 4 if fixed_step is None else fixed_step,
                    "restarts": restarts,
                    "random_start": True,
                    "loss": "ce",
                    "seed": seed,
                },
            )
            for e in values
        ]
    if version not in VERSIONS:
        raise BadInput(f"unknown AutoAttack version {version!r}; choose one of {', '.join(VERSIONS)}")
    require_pyautoattack()
    if attacks and version != "custom":
        raise BadInput("--attacks needs --version custom (the other versions fix their own attacks)")
    if version == "custom":
        if not attacks:
            raise BadInput("--version custom needs --attacks, e.g. apgd-ce,apgd-t")
        unknown = [a for a in attacks if a not in ATTACK_NAMES]
        if unknown:
            raise BadInput(f"unknown AutoAttack attack {unknown[0]!r}; choose from {', '.join(ATTACK_NAMES)}")
    if restarts < 1:
        raise BadInput("--restarts must be >= 1")
    names, config = describe(version, norm, attacks, restarts)
    settings = {"version": version, "attacks": names, "seed": seed, "config": config}
    if version == "custom":
        settings["restarts"] = restarts
    return [AttackSpec("autoattack", norm, e, dict(settings)) for e in values]
