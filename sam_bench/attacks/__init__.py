"""Attacks on models that take inputs in [0,1]: PGD (Linf, L2) here, AutoAttack in `autoattack`."""

from sam_bench.attacks.pgd import NORMS, pgd, project

__all__ = ["NORMS", "pgd", "project"]
