"""Collapse as its own endpoint: a run the overfitting guard flagged counts in its model's
collapse rate (exact interval) and not in its accuracy, which is over the other runs with their count."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import beta
from test_claims import BUDGETS, by_claim, flags, record

from sam_bench.report import collapse
from sam_bench.report.comparison import compare
from sam_bench.report.document import _accuracy_lines
from sam_bench.report.pareto import mean_accuracy


def guarded(rec, collapsed_at=None):
    """The run as trained with the overfitting guard, which saw it collapse at `collapsed_at` (None: never)."""
    guard = {"collapsed": collapsed_at is not None, "epoch": collapsed_at}
    return replace(rec, training=replace(rec.training, overfit_guard=guard))


def grid(name="FGSM", method="fgsm-rs"):
    """ST and a single-step model over 3 seeds; the single-step model's seed 2 collapsed (robust 0%)."""
    st = [record("ST", "standard", s, flags(600), {b: flags(300 + 5 * s) for b in BUDGETS}) for s in range(3)]
    fgsm = [
        guarded(record(name, method, s, flags(550), {b: flags(0 if s == 2 else 340 + 5 * s) for b in BUDGETS}))
        for s in range(2)
    ]
    fgsm.append(guarded(record(name, method, 2, flags(500), {b: flags(0) for b in BUDGETS}), collapsed_at=2))
    return st, fgsm


def test_the_rate_has_its_exact_interval():
    _, fgsm = grid()
    k, n, low, high = collapse.rate(fgsm)
    assert (k, n) == (1, 3)
    # Clopper-Pearson for 1 of 3, from the beta quantiles: the lower bound in closed form, 1 - 0.975^(1/3)
    assert low == pytest.approx(1 - 0.975 ** (1 / 3)) and low == pytest.approx(beta.ppf(0.025, 1, 3))
    assert high == pytest.approx(beta.ppf(0.975, 2, 2))
    assert collapse.describe(fgsm).startswith("1 of 3 seeds collapsed (seed 2; rate 33%, exact 95% interval 1-91%)")
    assert collapse.describe(fgsm).endswith("accuracy over the other 2")


def test_a_collapsed_run_leaves_the_accuracy_and_the_comparisons():
    st, fgsm = grid()
    measure = ("pgd", *BUDGETS[0])
    assert mean_accuracy(fgsm, *measure) == pytest.approx(np.mean([0.340, 0.345]))  # not dragged towards 0
    c = compare(fgsm, st, measure)
    assert c.seeds == 2 and c.difference == pytest.approx(0.040)
    assert "left aside as collapsed (counted in the collapse rate instead): FGSM seed 2" in c.tests
    row = next(line for line in _accuracy_lines(st + fgsm) if line.startswith("| FGSM "))
    assert "⚠ 1 of 3 seeds collapsed" in row and "| 0, 1 |" in row
    assert "0.0–100.0" not in row and "(0.0–" not in row  # the interval of a mixture is gone


def test_the_claims_see_only_the_runs_that_did_not_collapse():
    st, sam = grid("SAM-0.1", "sam")
    c2 = by_claim(st + sam)[("C2", "SAM-0.1")]
    assert "2 seeds × 1,000 images" in c2["evidence"][0]
