"""The rho <-> eps correspondence: which AT eps does what SAM at a given rho does, by outcome (where AT's curve
reaches SAM's value) and by mechanism (the input perturbation that lowers the margins as much as SAM's weight
perturbation). docs/theory.md."""

from __future__ import annotations

import numpy as np

from sam_bench.analysis.theory.perturbations import equivalent_input_eps, sam_ascent
from sam_bench.analysis.theory.training import batches, loss_gradient


def matching_strength(strengths, values, target: float) -> float | None:
    """The smallest strength at which the piecewise-linear curve (strengths, values) reaches target;
    None where it never does (SAM's value lies outside everything AT on this grid gives)."""
    for (s0, v0), (s1, v1) in zip(zip(strengths, values), zip(strengths[1:], values[1:])):
        if v0 == target:
            return float(s0)
        if (v0 - target) * (v1 - target) < 0:
            return float(s0 + (s1 - s0) * (target - v0) / (v1 - v0))
    return float(strengths[-1]) if values[-1] == target else None


def value_at_strength(strengths, values, strength: float | None) -> float | None:
    """The curve's value at `strength` (linear interpolation); None outside the curve."""
    if strength is None or not strengths[0] <= strength <= strengths[-1]:
        return None
    return float(np.interp(strength, strengths, values))


def sam_margin_drop(
    w: np.ndarray, rho: float, x: np.ndarray, y: np.ndarray, training: dict, rng: np.random.Generator
) -> dict:
    """How much SAM's own perturbation (rho g / ||g||, g the batch gradient at the trained w) lowers the
    margins of the batch's examples, averaged over one epoch of training batches, and what input
    perturbation that equals; with the one-example worst case (rho ||x||_2) as the upper bound, and how
    close the step points to -w (cosine 1: it only shrinks w)."""
    signed_x = y[:, None] * x
    drops, alignments = [], []
    for index in batches(len(x), dict(training, epochs=1), rng):
        batch = signed_x[index]
        e = rho * sam_ascent(loss_gradient(w[None, :], batch), 1.0)[0]
        drops.append(-(batch @ e))
        alignments.append(-(e @ w) / (np.linalg.norm(e) * np.linalg.norm(w)))
    mean_drop = float(np.mean(np.concatenate(drops)))
    one_example_drop = rho * float(np.linalg.norm(x, axis=1).mean())
    return {
        "margin_drop": mean_drop,
        "cosine_to_minus_w": float(np.mean(alignments)),
        "equivalent_eps_Linf": float(equivalent_input_eps(mean_drop, w, "Linf")[0]),
        "equivalent_eps_L2": float(equivalent_input_eps(mean_drop, w, "L2")[0]),
        "one_example_margin_drop": one_example_drop,
        "one_example_equivalent_eps_L2": float(equivalent_input_eps(one_example_drop, w, "L2")[0]),
    }


def correspondence(st: dict, sam: list[dict], at: dict[str, list[dict]], primary: int, tolerance: float) -> list[dict]:
    """Per SAM rho: the AT eps (Linf and L2) with the same non-robust reliance, clean accuracy and
    primary robust accuracy, and AT's clean accuracy at SAM's robust accuracy. Inputs are the mean
    metrics of ST, of SAM per rho, and of AT per norm and eps (each with its 'strength'). Where SAM's
    value is within `tolerance` of ST's, the match is eps 0 (ST itself): a crossing found further
    along AT's curve would be a coincidence of noise, not a correspondence."""

    def match(eps, curve, target):
        return 0.0 if abs(target - curve[0]) <= tolerance else matching_strength(eps, curve, target)

    rows = []
    for s in sam:
        row = {"rho": s["strength"]}
        for norm, runs in at.items():
            eps = [0.0] + [r["strength"] for r in runs]
            curve = {key: [st[key]] + [r[key] for r in runs] for key in ("non_robust_reliance", "clean_accuracy")}
            robust = [st["robust_accuracy"][primary]] + [r["robust_accuracy"][primary] for r in runs]
            row[f"{norm}_eps_same_reliance"] = match(eps, curve["non_robust_reliance"], s["non_robust_reliance"])
            row[f"{norm}_eps_same_clean"] = match(eps, curve["clean_accuracy"], s["clean_accuracy"])
            same_robust = match(eps, robust, s["robust_accuracy"][primary])
            row[f"{norm}_eps_same_robust"] = same_robust
            row[f"{norm}_clean_at_same_robust"] = value_at_strength(eps, curve["clean_accuracy"], same_robust)
        rows.append(row)
    return rows
