"""Attacks carried over from an earlier evaluation of the same model instead of attacked again (a recipe that
gains one attack need not repeat the others). An earlier entry is taken when nothing that decides its outcome
differs: weights, test data, precision, math mode, the attack's settings and the first N images. Its per-image
outcomes stay its evidence: they must cover those images and leave correct no image this call's clean pass gets
wrong, and its figures are derived from them again (`chunk_state.combine`), never read."""

from __future__ import annotations

import binascii

import numpy as np

from sam_bench.errors import SamBenchError
from sam_bench.evaluation import attack_table, outcomes
from sam_bench.evaluation.chunk_state import combine
from sam_bench.evaluation.specs import AttackSpec

# What a results record states of how it was computed, as `evaluate` writes it: all must be this call's
SAME = ("precision", "math_mode", "search_math_mode")


def matching(earlier: dict | None, made: dict) -> dict | None:
    """The earlier results record when it was computed as this call computes (`made`: the same weights, test
    data, precision and math modes, as `evaluate` records them), else None."""
    if not earlier:
        return None
    if (earlier.get("model") or {}).get("weights_sha256") != made["model"]["weights_sha256"]:
        return None
    if (earlier.get("dataset") or {}).get("sha256") != made["dataset"]["sha256"]:
        return None
    return earlier if all(earlier.get(key) == made[key] for key in SAME) else None


def carried(
    earlier: dict | None,
    spec: AttackSpec,
    n: int,
    clean_correct: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    warn,
) -> dict | None:
    """This attack's entry from the earlier record (`matching`'s), its figures derived again from its per-image
    outcomes on the first `n` images, or None where the record holds no such entry or its outcomes cannot be
    this model's on these images (`clean_correct`: this call's clean pass over them)."""
    if earlier is None or attack_table.is_clean(spec.attack):  # the clean pass is run again anyway: nothing to save
        return None
    wanted = spec.record()
    for entry in earlier.get("evaluations") or []:
        if {key: entry.get(key) for key in wanted} != wanted or entry.get("n_examples") != n:
            continue
        try:
            flags = outcomes.decode(entry["outcomes"])
        except (KeyError, TypeError, ValueError, binascii.Error, SamBenchError):
            return None
        if flags.size != n or int(entry["outcomes"].get("start", 0)) != 0 or np.any(flags & ~clean_correct):
            return None
        breakdown = entry.get("breakdown")
        chunk = {
            "correct": entry["outcomes"],
            "reported_correct": None,  # the attack's own count is not evidence; it is left out rather than read
            "disagreements": 0,
            "breakdown": None if breakdown is None else {k: round(float(v) * n) for k, v in breakdown.items()},
            "warnings": [],
            "max_perturbation": float(entry.get("max_perturbation") or 0.0),
            "seconds": float(entry.get("seconds") or 0.0),
            "cpu_seconds": float(entry.get("cpu_seconds") or 0.0),
        }
        found = combine(spec, [chunk], clean_correct, labels, num_classes, warn)
        kept = {"size": n, "count": 1, "resumed": 1, **(entry.get("chunks") or {})}
        found["chunks"] = {**kept, "carried_from": str(earlier.get("created", ""))}
        return found
    return None
