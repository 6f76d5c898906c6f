"""One evaluation's test images: a Wilson interval for an accuracy, two trained models on the same images compared
image by image (`PairedTable`: exact McNemar, Newcombe's interval); training seeds are `mixed_model`'s. Wilson and
Newcombe are closed-form (they run where scipy is not installed); every distribution comes from scipy.stats,
imported where used."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

import numpy as np

ALPHA = 0.05  # significance level of every test in the reports
CONFIDENCE = 1 - ALPHA

# The alternative hypothesis of a one- or two-sided test, as scipy spells it
Alternative = Literal["two-sided", "less", "greater"]


def z_value(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile: 1.96 for 95%."""
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion of `correct` out of `n` (Wilson 1927): unlike the
    normal approximation it stays inside [0, 1] and keeps its coverage near 0% and 100%."""
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"a proportion needs 0 <= correct <= n and n >= 1, got {correct} of {n}")
    z = z_value(confidence)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (0.0 if correct == 0 else centre - half), (1.0 if correct == n else centre + half)


@dataclass(frozen=True)
class PairedTable:
    """Two classifiers on the same images: how many both, only the first, only the second, or
    neither got right."""

    both: int
    only_first: int
    only_second: int
    neither: int

    @classmethod
    def of(cls, first, second) -> PairedTable:
        a, b = np.asarray(first, bool), np.asarray(second, bool)
        if a.shape != b.shape:
            raise ValueError(f"paired outcomes must cover the same images ({a.shape} vs {b.shape})")
        return cls(int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum()))

    @property
    def n(self) -> int:
        return self.both + self.only_first + self.only_second + self.neither

    @property
    def difference(self) -> float:
        """First model's accuracy minus the second's."""
        return (self.only_first - self.only_second) / self.n


def mcnemar_exact(table: PairedTable, alternative: Alternative = "two-sided") -> float:
    """Exact McNemar p-value: under "equally accurate" each image that only one model gets right is
    a fair coin between the two (a binomial test on the discordant images). `alternative`
    "greater": H0 the first model is no more accurate ("less": no less accurate)."""
    from scipy.stats import binomtest

    discordant = table.only_first + table.only_second
    if discordant == 0:
        return 1.0
    return float(binomtest(table.only_first, discordant, 0.5, alternative=alternative).pvalue)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely k or more of n images differ where each differs with
    probability p (sam_bench.evaluation.spot_check)."""
    from scipy.stats import binom

    return 1.0 if k <= 0 else float(binom.sf(k - 1, n, p))


def _newcombe(k1: int, n1: int, k2: int, n2: int, phi: float, confidence: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 from the two Wilson intervals; phi is the
    correlation of paired outcomes (0 for independent samples)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, p1 - p2 - lower), min(1.0, p1 - p2 + upper)


def paired_interval(table: PairedTable, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval for the difference of two paired accuracies: Newcombe (1998), "Improved confidence
    intervals for the difference between binomial proportions based on paired data", method 10
    (Wilson intervals of each accuracy, combined with the phi correlation of the pairs)."""
    a, b, c, d, n = table.both, table.only_first, table.only_second, table.neither, table.n
    product = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(product) if product else 0.0
    return _newcombe(a + b, n, a + c, n, phi, confidence)


def unpaired_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval for p1 - p2 from independent samples: Newcombe (1998, Statistics in Medicine 17:873),
    method 10. For two evaluations without per-image outcomes: the same images make the two accuracies
    positively correlated, so treating them as independent gives a wider interval, never a narrower."""
    return _newcombe(k1, n1, k2, n2, 0.0, confidence)


def fisher_p(k1: int, n1: int, k2: int, n2: int, alternative: Alternative = "two-sided") -> float:
    """p-value of Fisher's exact test of equal accuracy, for evaluations without per-image outcomes
    (conservative for evaluations on the same images, like `unpaired_interval`); `alternative` as
    in `mcnemar_exact`."""
    from scipy.stats import fisher_exact

    return float(fisher_exact(np.array([[k1, n1 - k1], [k2, n2 - k2]]), alternative=alternative).pvalue)


def unpaired_noninferiority_p(k1: int, n1: int, k2: int, n2: int, margin: float) -> float:
    """One-sided p-value of H0: p1 - p2 <= -margin from independent samples (large-sample z)."""
    p1, p2 = k1 / n1, k2 / n2
    return _z_p(p1 - p2 + margin, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def noninferiority_p(table: PairedTable, margin: float) -> float:
    """One-sided p-value of "the first model is worse than the second by `margin` or more"
    (H0: difference <= -margin), from the paired difference's large-sample z statistic."""
    n, b, c = table.n, table.only_first, table.only_second
    return _z_p(table.difference + margin, ((b + c) / n - ((b - c) / n) ** 2) / n)


def _z_p(shifted: float, variance: float) -> float:
    """One-sided large-sample z p-value of H0: the estimate `shifted` (of that variance) is <= 0."""
    if variance <= 0:
        return 0.0 if shifted > 0 else 1.0
    return 1 - statistics.NormalDist().cdf(shifted / math.sqrt(variance))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (1979): controls the chance of any false call among a claim's
    comparisons at the nominal level, and never calls fewer than Bonferroni does."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


POWER = 0.8  # the power at which a design's smallest detectable effect is stated


def detectable_effect(standard_error: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true effect (distance from the null) that a one-sided t-test at `alpha` with
    this standard error and these degrees of freedom detects with probability `power`: the
    noncentrality at which the noncentral t exceeds the test's critical value with that probability."""
    from scipy.optimize import brentq
    from scipy.stats import nct, t

    if standard_error == 0:
        return 0.0
    critical = float(t.ppf(1 - alpha, df))
    noncentrality = brentq(lambda delta: nct.sf(critical, df, delta) - power, 0.0, critical + 100.0)
    return float(noncentrality) * standard_error


def paired_standard_error(table: PairedTable) -> float:
    """Standard error of one pair of models' accuracy difference over the images (McNemar's)."""
    n, b, c = table.n, table.only_first, table.only_second
    return math.sqrt(max(0.0, (b + c) / n - ((b - c) / n) ** 2) / n)


def median_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """The median and its distribution-free confidence interval (order statistics: scipy's
    quantile_test). Its coverage is at least `confidence`; with fewer than 6 values no interval
    reaches 95% (None, None)."""
    from scipy.stats import quantile_test

    values = np.asarray(values, float)
    median = float(np.median(values))
    ci = quantile_test(values, q=median, p=0.5).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)  # type: ignore[attr-defined]  # scipy-stubs: typed as a float
    return median, (low if math.isfinite(low) else None), (high if math.isfinite(high) else None)
