"""The statistics behind every interval and verdict: how sure can a reader be of a number?

Two sources of noise, and the claims are about training methods, so a test of a method needs both:
  - Which test images were drawn. One evaluation's accuracy gets a Wilson score interval; two
    trained models evaluated on the same images are compared image by image (`PairedTable`): the
    exact McNemar test on the images only one of them gets right, and Newcombe's interval for the
    difference of the two accuracies. That is a statement about two trained models, not methods.
  - Which training seed was drawn. Retraining with another seed moves accuracies by several points.
`seeds_and_images` models both at once: seeds x images as a crossed two-way layout (every seed is
scored on the same images), the variance of the mean split into the seeds' share and the images'
share by the classical mean squares, a t reference distribution with Satterthwaite's degrees of
freedom (counted conservatively, see `_degrees_of_freedom`), one-sided p-values, an interval, and
the smallest effect the design detects with 80% power. Its coverage and false-positive rate are
checked by simulation in tests/test_stats_simulation.py.

Wilson and Newcombe are closed-form (they run wherever sam-bench evaluates, scipy or not); every
distribution (binomial, t, noncentral t, chi-square) comes from scipy.stats, imported where used.
"""

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

    def __add__(self, other: PairedTable) -> PairedTable:
        return PairedTable(
            self.both + other.both,
            self.only_first + other.only_first,
            self.only_second + other.only_second,
            self.neither + other.neither,
        )

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
    variance = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    shifted = p1 - p2 + margin
    if variance <= 0:
        return 0.0 if shifted > 0 else 1.0
    return 1 - statistics.NormalDist().cdf(shifted / math.sqrt(variance))


def noninferiority_p(table: PairedTable, margin: float) -> float:
    """One-sided p-value of "the first model is worse than the second by `margin` or more"
    (H0: difference <= -margin), from the paired difference's large-sample z statistic."""
    n, b, c = table.n, table.only_first, table.only_second
    variance = ((b + c) / n - ((b - c) / n) ** 2) / n
    shifted = table.difference + margin
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


@dataclass(frozen=True)
class SeedsAndImages:
    """The mean of per-seed, per-image values (a difference of two methods' outcomes, or one
    method's outcomes) with its uncertainty over both training seeds and test images.

    Model: value(s, i) = mean + a_s + b_i + e_si, seeds and images drawn at random, every seed on
    the same images. The mean's variance is var(a)/S + var(b)/N + var(e)/(S N): the images' part
    does not shrink with more seeds (each seed sees the same images), the seeds' part does not
    shrink with more images."""

    estimate: float
    standard_error: float
    df: float  # of the t reference distribution
    seeds: int
    images: int
    seed_sd: float  # sd of one seed's mean around the method's (0 when estimated below 0)
    image_sd: float  # sd of one image's mean over seeds, beyond what the seeds explain (0 likewise)

    @property
    def seed_share(self) -> float:
        """What the seeds alone contribute to the standard error (sd / sqrt(seeds))."""
        return self.seed_sd / math.sqrt(self.seeds)

    @property
    def image_share(self) -> float:
        """What the images alone contribute to the standard error (sd / sqrt(images))."""
        return self.image_sd / math.sqrt(self.images)

    def p_value(self, margin: float = 0.0, alternative: str = "greater") -> float:
        """One-sided p-value. "greater": H0 mean <= -margin (evidence the mean is above -margin);
        "less": H0 mean >= -margin (evidence it is below)."""
        from scipy.stats import t

        shifted = self.estimate + margin
        if self.standard_error == 0:
            above = shifted > 0 if alternative == "greater" else shifted < 0
            return 0.0 if above else 1.0
        statistic = shifted / self.standard_error
        return float(t.sf(statistic, self.df) if alternative == "greater" else t.cdf(statistic, self.df))

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Two-sided t interval for the mean."""
        from scipy.stats import t

        half = float(t.ppf(0.5 + confidence / 2, self.df)) * self.standard_error
        return self.estimate - half, self.estimate + half

    def detectable(self, alpha: float = ALPHA, power: float = POWER) -> float:
        """The smallest true distance from the null that the one-sided test at `alpha` detects with
        probability `power`, for seeds and images like these (`detectable_effect`)."""
        return detectable_effect(self.standard_error, self.df, alpha, power)


def seeds_and_images(values) -> SeedsAndImages:
    """The mean of a seeds x images array (rows: training seeds, columns: the same test images)
    with both sources of variance. For two methods pass `method_difference`'s input: the outcome
    of method A minus method B per seed (seed s against seed s) and image. Needs two seeds or more.

    The variance parts come from the two-way layout's mean squares (seeds, images, residual), whose
    expectations are var(e) + N var(a), var(e) + S var(b) and var(e); the variance of the mean is
    (MS_seeds + MS_images - MS_residual) / (S N). The images' part is kept at zero or above (a
    negative estimate means the images add nothing beyond the residual), the seeds' part is never
    reduced (MS_seeds / (S N) is the plain t-test over seeds' variance)."""
    d = np.asarray(values, float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        raise ValueError(f"need a seeds x images array with at least 2 of each, got shape {d.shape}")
    seeds, images = d.shape
    ms_seeds, ms_images, ms_residual = _mean_squares(d)
    image_part = max(0.0, ms_images - ms_residual)
    variance = (ms_seeds + image_part) / (seeds * images)
    df = _degrees_of_freedom(ms_seeds, ms_images, ms_residual, seeds, images)
    return SeedsAndImages(
        float(d.mean()),
        math.sqrt(variance),
        df,
        seeds,
        images,
        seed_sd=math.sqrt(max(0.0, ms_seeds - ms_residual) / images),
        image_sd=math.sqrt(image_part / seeds),
    )


def over_images(values) -> SeedsAndImages:
    """The mean of per-image values of one trained model or pair (one seed), with its uncertainty over
    the test images only: what these models do, not what their training method does (t over images)."""
    v = np.asarray(values, float).ravel()
    if v.size < 2:
        raise ValueError(f"need two images or more, got {v.size}")
    sd = float(v.std(ddof=1))
    return SeedsAndImages(float(v.mean()), sd / math.sqrt(v.size), v.size - 1, 1, v.size, 0.0, sd)


def accuracy_interval(result: SeedsAndImages, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A mean accuracy's interval over seeds and images, kept where an accuracy can be: within [0, 1]
    and never narrower than Wilson's over every seed's outcomes pooled (near 0% or 100% the t
    interval's standard error vanishes: three seeds with no image right would give [0, 0])."""
    low, high = result.interval(confidence)
    n = result.seeds * result.images
    pooled_low, pooled_high = wilson(round(result.estimate * n), n, confidence)
    return max(0.0, min(low, pooled_low)), min(1.0, max(high, pooled_high))


def method_difference(first, second) -> SeedsAndImages:
    """Method A against method B: `first` and `second` are seeds x images arrays of correct-flags
    (row s: seed s of each method; the same images in the same order)."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    if a.shape != b.shape:
        raise ValueError(f"both methods need the same seeds and images ({a.shape} vs {b.shape})")
    return seeds_and_images(a - b)


def seeds_and_images_from_means(seed_means, image_variance: float, images: int) -> SeedsAndImages:
    """As `seeds_and_images` when only each seed's mean is known (results written before per-image
    outcomes were recorded): the images' part of the variance is not estimable, so the caller
    bounds it (`image_variance`, the variance of one image's value; for a difference of two
    accuracies on the same images p1 (1 - p1) + p2 (1 - p2), which positively correlated outcomes
    never exceed). Conservative: the bound also counts what the seeds' part already holds."""
    means = np.asarray(seed_means, float)
    if means.ndim != 1 or len(means) < 2:
        raise ValueError("a test over seeds needs at least two seeds")
    seeds = len(means)
    seed_part = float(means.var(ddof=1)) / seeds
    image_part = image_variance / images
    upper = seed_part * (seeds - 1) / _chi2_lower(seeds - 1)
    df = (upper + image_part) ** 2 / (upper**2 / (seeds - 1) + image_part**2 / (images - 1))
    return SeedsAndImages(
        float(means.mean()),
        math.sqrt(seed_part + image_part),
        df,
        seeds,
        images,
        seed_sd=math.sqrt(float(means.var(ddof=1))),
        image_sd=math.sqrt(image_variance),
    )


def projected(values, seeds: int, images: int | None = None) -> SeedsAndImages:
    """What `seeds_and_images` is expected to give for a design of `seeds` training seeds and `images`
    test images (default: the pilot's), from a pilot's seeds x images array (one method's outcomes, or
    a difference of two methods'): the variance parts are the pilot's estimates, the mean's standard
    error and degrees of freedom are those of the planned design (the mean squares at their
    expectations: var(e) + N var(a) for the seeds, var(e) + S var(b) for the images).

    A pilot's seed variance rests on few degrees of freedom: its detectable effects are estimates,
    not guarantees (the report says how many seeds they came from)."""
    d = np.asarray(values, float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        raise ValueError(f"need a seeds x images array with at least 2 of each, got shape {d.shape}")
    pilot_seeds, pilot_images = d.shape
    images = pilot_images if images is None else images
    if seeds < 2 or images < 2:
        raise ValueError("a planned design needs at least 2 seeds and 2 images")
    ms_seeds, ms_images, ms_residual = _mean_squares(d)
    seed_var = max(0.0, ms_seeds - ms_residual) / pilot_images
    image_var = max(0.0, ms_images - ms_residual) / pilot_seeds
    planned_seeds, planned_images = ms_residual + images * seed_var, ms_residual + seeds * image_var
    variance = (planned_seeds + max(0.0, planned_images - ms_residual)) / (seeds * images)
    return SeedsAndImages(
        float(d.mean()),
        math.sqrt(variance),
        _degrees_of_freedom(planned_seeds, planned_images, ms_residual, seeds, images),
        seeds,
        images,
        seed_sd=math.sqrt(seed_var),
        image_sd=math.sqrt(image_var),
    )


def _mean_squares(d: np.ndarray) -> tuple[float, float, float]:
    """Mean squares of a seeds x images layout without replication: seeds, images, residual
    (the same as an ANOVA of d ~ seed + image: tests/test_stats.py checks them against statsmodels)."""
    seeds, images = d.shape
    grand = d.mean()
    seed_means, image_means = d.mean(axis=1), d.mean(axis=0)
    ss_seeds = images * float(((seed_means - grand) ** 2).sum())
    ss_images = seeds * float(((image_means - grand) ** 2).sum())
    ss_residual = max(0.0, float(((d - grand) ** 2).sum()) - ss_seeds - ss_images)
    return (ss_seeds / (seeds - 1), ss_images / (images - 1), ss_residual / ((seeds - 1) * (images - 1)))


def _degrees_of_freedom(ms_seeds: float, ms_images: float, ms_residual: float, seeds: int, images: int) -> float:
    """Satterthwaite's (1946) degrees of freedom for the variance (MS_seeds + MS_images - MS_residual),
    with MS_seeds taken at its upper 95% confidence bound.

    Why the bound: with 2 or 3 seeds, MS_seeds has 1 or 2 degrees of freedom and is often far below
    its expectation; plain Satterthwaite then finds many degrees of freedom exactly when the
    variance is underestimated, and the test calls too much (simulated: 6-9% false positives at a
    nominal 5% with 3 seeds when seeds and images both vary). Taken at its bound, the seeds' share
    keeps the degrees of freedom near S - 1 (a t-test over seeds) unless the images' share clearly
    dominates, where they grow towards the images' N - 1."""
    upper = ms_seeds * (seeds - 1) / _chi2_lower(seeds - 1)
    terms = [(upper, seeds - 1)]
    if ms_images > ms_residual:
        terms += [(ms_images, images - 1), (ms_residual, (seeds - 1) * (images - 1))]
    variance = upper + (ms_images - ms_residual if ms_images > ms_residual else 0.0)
    denominator = sum(m * m / k for m, k in terms)
    # Below 1 when the seeds add nothing and MS_images barely exceeds MS_residual (the images' share, a
    # difference of two near-equal mean squares, is then hardly estimated): no t distribution with under
    # one degree of freedom is a reference for it; 1 is the most conservative that is.
    return max(1.0, float(variance * variance / denominator)) if denominator > 0 else float(seeds - 1)


def _chi2_lower(df: int, confidence: float = CONFIDENCE) -> float:
    """The chi-square quantile that turns a mean square into its one-sided upper confidence bound."""
    from scipy.stats import chi2

    return float(chi2.ppf(1 - confidence, df))


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
    # confidence_interval() returns a ConfidenceInterval
    low, high = float(ci.low), float(ci.high)  # type: ignore[attr-defined]  # scipy-stubs: typed as a float
    return median, (low if math.isfinite(low) else None), (high if math.isfinite(high) else None)
