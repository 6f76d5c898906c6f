"""A corruption evaluation's figures, derived from its per-image outcomes and checked against them.

A corruptions entry of a results file (`evaluations[]`, attack `corruptions`) keeps one per-image outcomes record
per corruption and severity (`corruption_outcomes[corruption][severity]`, each covering the same first N test
images, encoded as every other outcome is: evaluation/outcomes.py). Every figure of the entry is derived from
them: the accuracy per corruption and severity, per corruption, per family (over the corruptions measured in it),
the mean over the 75 (`robust_acc`, RobustBench's headline) and the accuracy per class. Torch-free, so that the
results file's reader and check use it without running a model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sam_bench.corruptions import catalogue
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes


def summary(found: Mapping) -> dict:
    """Every figure of {corruption: {severity: outcomes}}: accuracy per corruption and severity, per corruption,
    per severity (over the corruptions measured at it), per family (over the corruptions measured in it) and the
    mean over the 75 (None unless every corruption was
    measured at every severity)."""
    accuracy = {
        c: {s: float(outcomes.decode(record).mean()) for s, record in by_severity.items()}
        for c, by_severity in found.items()
    }
    per_corruption = {c: float(np.mean(list(a.values()))) for c, a in accuracy.items()}
    levels = sorted({s for a in accuracy.values() for s in a}, key=int)
    per_severity = {s: float(np.mean([a[s] for a in accuracy.values() if s in a])) for s in levels}
    families = {
        family: float(np.mean([per_corruption[c] for c in members if c in per_corruption]))
        for family, members in catalogue.FAMILIES.items()
        if any(c in per_corruption for c in members)
    }
    mean = float(np.mean([a for by in accuracy.values() for a in by.values()])) if complete(found) else None
    return {
        "accuracy": accuracy,
        "per_corruption": per_corruption,
        "per_severity": per_severity,
        "families": families,
        "mean_accuracy": mean,
    }


def figures(evaluation) -> dict | None:
    """A results file's corruptions entry's figures (a results_record.Evaluation), derived from its per-image
    outcomes (`summary`): `accuracy[corruption][severity]`, `per_corruption`, `per_severity`, `families`,
    `mean_accuracy`; None for an entry without them (another attack's)."""
    return summary(evaluation.corruption_outcomes) if evaluation.corruption_outcomes else None


def complete(found: Mapping) -> bool:
    """Whether all 15 corruptions were measured at all 5 severities."""
    return set(found) == set(catalogue.CORRUPTIONS) and all(
        set(by_severity) == {str(s) for s in catalogue.SEVERITIES} for by_severity in found.values()
    )


def per_class(found: Mapping, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """The accuracy on each class's images, over every corruption and severity measured."""
    right = np.zeros(num_classes)
    sets = 0
    for by_severity in found.values():
        for record in by_severity.values():
            right += np.bincount(labels[outcomes.decode(record)], minlength=num_classes)
            sets += 1
    shown = np.bincount(labels, minlength=num_classes) * sets
    return [None if k == 0 else float(r) / k for r, k in zip(right, shown)]


def derived(entry: Mapping) -> dict:
    """A corruptions entry with its headline (`robust_acc`, the mean over the 75), its per-family `breakdown` and
    `n_examples` taken from its per-image outcomes."""
    entry = dict(entry)
    found = entry.get("corruption_outcomes")
    if found and complete(found):
        figures = summary(found)
        entry["robust_acc"], entry["breakdown"] = figures["mean_accuracy"], figures["families"]
        entry["n_examples"] = next(iter(next(iter(found.values())).values()))["n"]
    return entry


def check(entry: Mapping, where: str, fix: str) -> None:
    """A corruptions entry against its own evidence, one line where not: outcomes for all 75 corruptions and
    severities, each of exactly the entry's images from the first, and a headline and breakdown that they give."""
    found = entry.get("corruption_outcomes")
    if not isinstance(found, Mapping) or not complete(found):
        raise SamBenchError(f"{where}: holds no per-image outcomes for all 15 corruptions at all 5 severities; {fix}")
    n = entry["n_examples"]
    for corruption, by_severity in found.items():
        for severity, record in by_severity.items():
            try:
                flags = outcomes.decode(record)
            except (ValueError, SamBenchError) as err:
                raise SamBenchError(
                    f"{where}: {corruption} {severity}: per-image outcomes unreadable ({err}); {fix}"
                ) from None
            if record["start"] != 0 or flags.size != n:
                raise SamBenchError(
                    f"{where}: {corruption} {severity}: outcomes cover images {record['start']}.."
                    f"{record['start'] + flags.size - 1}, not the {n} evaluated; {fix}"
                )
    figures = summary(found)
    if abs(figures["mean_accuracy"] - entry["robust_acc"]) > 0.5 / (75 * n):
        raise SamBenchError(
            f"{where}: robust_acc is {entry['robust_acc']:g}, the mean its per-image outcomes give over the 75 is "
            f"{figures['mean_accuracy']:g}; {fix}"
        )
    breakdown = entry.get("breakdown") or {}
    for family, value in figures["families"].items():
        if abs(float(breakdown.get(family, -1.0)) - value) > 0.5 / (15 * n):
            raise SamBenchError(
                f"{where}: the {family} family's accuracy is {breakdown.get(family)}, its per-image outcomes give "
                f"{value:g}; {fix}"
            )
