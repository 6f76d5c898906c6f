"""Catastrophic overfitting as its own endpoint: a run the overfitting guard flagged collapsed
(`sam_bench.training.guard`) counts in its method's collapse rate, with an exact (Clopper-Pearson)
interval, and is left out of the method's accuracy, which is then over the runs that did not collapse,
with their count. Mixed in, one collapsed seed (robust accuracy near 0) would stretch its model's interval
to 0-100% and keep it "not separated from the best" on variance alone."""

from __future__ import annotations

from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference


def collapse_epoch(record: RunRecord) -> int | None:
    """The epoch at which the run's overfitting guard saw it collapse, or None."""
    guard = record.training.overfit_guard or {}
    return guard.get("epoch") if guard.get("collapsed") else None


def healthy(group: list[RunRecord]) -> list[RunRecord]:
    """The runs of a model that did not collapse (all of them when every run did: the row says so)."""
    kept = [r for r in group if collapse_epoch(r) is None]
    return kept or group


def collapsed(group: list[RunRecord]) -> list[RunRecord]:
    return [r for r in group if collapse_epoch(r) is not None]


def rate(group: list[RunRecord]) -> tuple[int, int, float, float]:
    """(collapsed runs, runs, and the exact 95% interval of the collapse rate)."""
    from scipy.stats import binomtest

    k, n = len(collapsed(group)), len(group)
    ci = binomtest(k, n).proportion_ci(confidence_level=inference.CONFIDENCE, method="exact")
    return k, n, float(ci.low), float(ci.high)


def describe(group: list[RunRecord]) -> str:
    """'1 of 3 seeds collapsed (seed 2; rate 33%, exact 95% interval 1-91%): accuracy over the other 2'."""
    k, n, low, high = rate(group)
    seeds = ", ".join(str(r.seed) for r in collapsed(group))
    rest = n - k
    over = f"accuracy over the other {rest}" if rest else "every run collapsed: accuracy over all of them"
    return (
        f"{k} of {n} seeds collapsed (seed {seeds}; rate {100 * k / n:.0f}%, exact 95% interval "
        f"{100 * low:.0f}-{100 * high:.0f}%): {over}"
    )
