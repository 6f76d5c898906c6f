"""Per-class accuracies, derived from per-image outcomes and the test set's labels, never read from a file.

A results file records `per_class_robust_acc` beside the outcomes but not the labels they are counted by, so an
edited list cannot be told from the file alone: where the test set is at hand (`verify`, every board's gate) the
list is derived again and a file whose list differs is refused. `evaluate` writes it with the same `accuracies`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes, own_entries
from sam_bench.evaluation.results_file import FIX
from sam_bench.evaluation.results_record import Evaluation, Results

TOLERANCE = 1e-9  # a float written to JSON and read back: none is lost; this only forgives a last-bit rounding


def accuracies(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """Each class's share of its images that `correct` marks, in class order; None for a class absent from them."""
    per_class_n = np.bincount(labels, minlength=num_classes)
    per_class = np.bincount(labels[correct], minlength=num_classes)
    return [None if k == 0 else float(r) / k for r, k in zip(per_class, per_class_n)]


def derived(evaluation: Evaluation, labels: np.ndarray, num_classes: int) -> list[float | None] | None:
    """An evaluation's per-class accuracies from its per-image outcomes and the labels of the test set's first
    images (as many as it covers); None where it kept no outcomes."""
    n = int(evaluation.n_examples or 0)
    own = own_entries.of(evaluation.norm)
    if own is not None:
        found = evaluation.own_outcomes
        return own.per_class(found, labels[:n], num_classes) if found else None
    if not evaluation.outcomes:
        return None
    return accuracies(outcomes.decode(evaluation.outcomes), labels[:n], num_classes)


def check(path: Path | str, results: Results, labels: np.ndarray) -> None:
    """Every evaluation's recorded `per_class_robust_acc` against the one its outcomes and `labels` (the test
    set's, in order) give: one line naming the first class that differs; an evaluation without outcomes is the
    results file's own check's to refuse."""
    for i, evaluation in enumerate(results.evaluations):
        recorded = evaluation.per_class_robust_acc
        if recorded is None:
            continue
        classes = max(len(recorded), int(labels.max()) + 1)  # the test set's classes: a list cut short is refused
        found = derived(evaluation, labels, classes)
        if found is None:
            continue
        differs = _first_difference(recorded, found)
        if differs is not None:
            name = f"evaluations[{i}] ({evaluation.attack} {evaluation.norm or ''} {evaluation.eps})"
            said = recorded[differs] if differs < len(recorded) else "missing"
            raise SamBenchError(
                f"{path}: {name.replace('  ', ' ')}: per_class_robust_acc[{differs}] is {said}, its per-image outcomes "
                f"and the test set's labels give {found[differs]}; {FIX}"
            )


def _first_difference(recorded: Sequence, found: Sequence) -> int | None:
    for k, (a, b) in enumerate(zip(recorded, found)):
        if (a is None) != (b is None) or (a is not None and not abs(float(a) - float(b)) <= TOLERANCE):
            return k
    return None if len(recorded) == len(found) else min(len(recorded), len(found))
