"""Models that are not models: at or near chance, or predicting one class for most images. Their numbers are no
evidence about SAM or AT (a constant classifier has the same "robust" accuracy at every budget), so results,
reports and boards flag them. Degenerate: clean accuracy below NEAR_CHANCE x chance, or one class taking at least
MAJORITY_SHARE of the predictions (a real model spreads them over a class-balanced test set)."""

from __future__ import annotations

from collections.abc import Mapping

from sam_bench.evaluation.results_record import Results

NEAR_CHANCE = 1.5  # x chance
MAJORITY_SHARE = 0.5


def diagnose(clean_acc: float, num_classes: int, prediction_counts: list[int] | None = None) -> dict:
    """{"degenerate": bool, "reasons": [...], ...}; `prediction_counts`: clean predictions per class."""
    chance = 1 / num_classes
    reasons = []
    if clean_acc < NEAR_CHANCE * chance:
        reasons.append(f"clean accuracy {100 * clean_acc:.1f}% is near chance ({100 * chance:g}%)")
    top_share = top_class = None
    if prediction_counts:
        total = sum(prediction_counts)
        top_class = max(range(len(prediction_counts)), key=prediction_counts.__getitem__)
        top_share = prediction_counts[top_class] / total if total else None
        if top_share is not None and top_share >= MAJORITY_SHARE:
            reasons.append(f"predicts class {top_class} for {100 * top_share:.0f}% of the images")
    return {
        "degenerate": bool(reasons),
        "reasons": reasons,
        "chance": chance,
        "top_class": top_class,
        "top_class_share": top_share,
    }


def of_results(results: Mapping) -> dict:
    """The diagnosis of a results file, made from its clean accuracy (derived from its per-image outcomes where it
    has them: `Results`) and its clean predictions per class; the diagnosis it records is not read (an edited
    `degenerate: false` would otherwise lift the flag off a model at chance)."""
    read = Results.of(results)
    counts = read.clean_prediction_counts
    num_classes = (
        len(counts)
        if counts
        else (read.model.arch or {}).get("num_classes") or (10 if "100" not in read.dataset.name else 100)
    )
    return diagnose(read.clean_acc, num_classes, counts)


def reason(results: Mapping) -> str | None:
    """One phrase saying why a model is degenerate, or None."""
    d = of_results(results)
    return "; ".join(d["reasons"]) if d["degenerate"] else None
