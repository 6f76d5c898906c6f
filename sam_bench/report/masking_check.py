"""PGD-10 against AutoAttack on the same test images: the check for gradient masking of one comparison of two
models, over the seeds it pairs (docs/reproducing.md, "Which figures a cell shows", rule 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_bench.evaluation import outcomes
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference, mixed_model


@dataclass(frozen=True)
class Check:
    """The gaps of two models over the seeds both have them on, and the first's minus the second's."""

    first: str
    second: str
    seeds: int
    first_gap: mixed_model.SeedsAndImages
    second_gap: mixed_model.SeedsAndImages
    difference: mixed_model.SeedsAndImages

    @property
    def flagged(self) -> bool:
        """The first model's gap significantly larger than the second's: gradient masking suspected."""
        return self.difference.p_value(0.0, "greater") < inference.ALPHA


def gap(record: RunRecord, norm: str, eps: str, **select) -> np.ndarray | None:
    """Per image of the AutoAttack (`select`): PGD-10 correct minus AutoAttack correct; None without their outcomes."""
    aa = record.evaluation("autoattack", norm, eps, **select)
    if aa is None or not aa.outcomes:
        return None
    pgd = record.evaluation("pgd", norm, eps, images=aa.n_examples)
    if pgd is None or not pgd.outcomes:
        return None
    a, b = outcomes.aligned(pgd.outcomes, aa.outcomes)
    return a.astype(float) - b.astype(float)


def check(firsts: list[RunRecord], seconds: list[RunRecord], norm: str, eps: str, **select) -> Check | None:
    """The check over every seed both models have both evaluations of on the same images; None where no seed has."""
    by_seed = {r.seed: r for r in seconds}
    pairs = []
    for r in firsts:
        other = by_seed.get(r.seed)
        a = gap(r, norm, eps, **select)
        b = None if other is None else gap(other, norm, eps, **select)
        if a is not None and b is not None and len(a) == len(b):
            pairs.append((a, b))
    if not pairs:
        return None
    first, second = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    if len(pairs) == 1:
        gaps = (mixed_model.over_images(first[0]), mixed_model.over_images(second[0]))
        difference = mixed_model.over_images(first[0] - second[0])
    else:
        gaps = (mixed_model.seeds_and_images(first), mixed_model.seeds_and_images(second))
        difference = mixed_model.method_difference(first, second)
    return Check(firsts[0].name, seconds[0].name, len(pairs), *gaps, difference)
