"""A training method's accuracy over seeds and images: the linear mixed model with crossed random effects of
training seed and test image, in closed form for the balanced layout (docs/reproducing.md: "A test of a training
method"), and a planned design's expected standard error from a pilot (`projected`). Checked by simulation in
tests/test_stats_simulation.py and against statsmodels' MixedLM in tests/test_stats.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam_bench.stats.inference import ALPHA, CONFIDENCE, POWER, detectable_effect, wilson


@dataclass(frozen=True)
class SeedsAndImages:
    """The mean of per-seed, per-image values (a difference of two methods' outcomes, or one method's) with its
    uncertainty over both: value(s, i) = mean + a_s + b_i + e_si, every seed on the same images, so the mean's
    variance var(a)/S + var(b)/N + var(e)/(S N) has an images' part that more seeds do not shrink."""

    estimate: float
    standard_error: float
    df: float  # of the t reference distribution
    seeds: int
    images: int
    seed_sd: float  # sd of one seed's mean around the method's (0 when estimated below 0)
    image_sd: float  # sd of one image's mean over seeds, beyond what the seeds explain (0 likewise)
    residual_sd: float = 0.0  # sd of what neither explains (seed x image); the shares below add up with it
    conservative: bool = False  # few seeds: counted conservatively (seeds_and_images)

    @property
    def seed_share(self) -> float:
        """What the seeds contribute to the standard error (sd / sqrt(seeds)); the three shares add up in
        quadrature: seed_share² + image_share² + residual_share² = standard_error²."""
        return self.seed_sd / math.sqrt(self.seeds)

    @property
    def image_share(self) -> float:
        """What the images contribute to the standard error (sd / sqrt(images))."""
        return self.image_sd / math.sqrt(self.images)

    @property
    def residual_share(self) -> float:
        """What neither seeds nor images explain, over every seed and image (sd / sqrt(seeds images))."""
        return self.residual_sd / math.sqrt(self.seeds * self.images)

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


# At this many training seeds or fewer, the seeds' share is counted conservatively: the mean squares
# over 1 or 2 seed degrees of freedom are often far below their expectation, and the standard model then
# calls differences that are not there (simulated, tests/test_stats_simulation.py: 8% false verdicts at
# 2 seeds, 6% at 3, against a nominal 5%); from 4 seeds on it is within Monte Carlo error of 5%.
CONSERVATIVE_SEEDS = 3


def seeds_and_images(values) -> SeedsAndImages:
    """The mean of a seeds x images array (rows: training seeds, columns: the same test images; for two
    methods, `method_difference`'s A minus B, seed s against seed s) with both sources of variance.

    REML for this balanced layout is in closed form: the two-way ANOVA's mean squares (expectations
    var(e) + N var(a), var(e) + S var(b), var(e)), a component estimated below zero set to zero and its sum
    of squares pooled into the residual; Satterthwaite's degrees of freedom. With CONSERVATIVE_SEEDS seeds
    or fewer the seeds' mean square is never pooled away and is taken at its upper 95% bound."""
    d = _layout(values)
    seeds, images = d.shape
    if seeds <= CONSERVATIVE_SEEDS:
        return _conservative(d)
    sums = _sums_of_squares(d)
    seed_var, image_var, residual_var, terms = _reml(sums, seeds, images)
    variance = seed_var / seeds + image_var / images + residual_var / (seeds * images)
    df = _satterthwaite([(c * m, k) for c, m, k in terms], seeds)
    return _fitted(d.mean(), variance, df, seeds, images, seed_var, image_var, residual_var)


def _layout(values) -> np.ndarray:
    d = np.asarray(values, float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        raise ValueError(f"need a seeds x images array with at least 2 of each, got shape {d.shape}")
    return d


def _fitted(
    mean, variance, df, seeds, images, seed_var, image_var, residual_var=0.0, conservative=False
) -> SeedsAndImages:
    """The fit from its variances (each part's sd their square root)."""
    sds = (math.sqrt(seed_var), math.sqrt(image_var), math.sqrt(residual_var))
    return SeedsAndImages(float(mean), math.sqrt(variance), df, seeds, images, *sds, conservative=conservative)


def _reml(sums: tuple, seeds: int, images: int) -> tuple[float, float, float, list[tuple[float, float, int]]]:
    """Balanced crossed REML: (var(a), var(b), var(e)) and the mean's variance times S N as terms
    (coefficient, mean square, degrees of freedom) for Satterthwaite. A component whose mean square falls
    below the residual's is zero and its sum of squares joins the residual (then looked at again)."""
    ss_seeds, ss_images, ss_residual = sums
    df_seeds, df_images, df_residual = seeds - 1, images - 1, (seeds - 1) * (images - 1)
    seeds_in, images_in = True, True
    while True:
        ss_e = ss_residual + (0.0 if seeds_in else ss_seeds) + (0.0 if images_in else ss_images)
        df_e = df_residual + (0 if seeds_in else df_seeds) + (0 if images_in else df_images)
        ms_e = ss_e / df_e
        pooled = False
        if seeds_in and ss_seeds / df_seeds < ms_e:
            seeds_in, pooled = False, True
        if images_in and ss_images / df_images < ms_e:
            images_in, pooled = False, True
        if not pooled:
            break
    ms_seeds, ms_images = ss_seeds / df_seeds, ss_images / df_images
    seed_var = (ms_seeds - ms_e) / images if seeds_in else 0.0
    image_var = (ms_images - ms_e) / seeds if images_in else 0.0
    # S N var(mean) = N var(a) + S var(b) + var(e) = [MS_seeds - MS_e] + [MS_images - MS_e] + MS_e
    terms = [(1.0, ms_seeds, df_seeds)] * seeds_in + [(1.0, ms_images, df_images)] * images_in
    terms.append((1.0 - seeds_in - images_in, ms_e, df_e))
    return seed_var, image_var, ms_e, terms


def _satterthwaite(terms: list[tuple[float, int]], seeds: int) -> float:
    """Satterthwaite's degrees of freedom of a sum of mean-square terms (each already times its coefficient,
    with its degrees of freedom); S - 1 when the sum has no spread to count, and never below 1."""
    denominator = sum(x * x / k for x, k in terms)
    return max(1.0, sum(x for x, _ in terms) ** 2 / denominator) if denominator > 0 else float(seeds - 1)


def _conservative(d: np.ndarray) -> SeedsAndImages:
    """Two or three seeds: the seeds' mean square kept whole (never pooled into the residual), the images'
    part at zero or above, and the seeds' mean square at its upper 95% bound for the degrees of freedom."""
    seeds, images = d.shape
    ms_seeds, ms_images, ms_residual = _mean_squares(d)
    image_part = max(0.0, ms_images - ms_residual)
    variance = (ms_seeds + image_part) / (seeds * images)
    df = _degrees_of_freedom(ms_seeds, ms_images, ms_residual, seeds, images)
    seed_var, residual_var = max(0.0, ms_seeds - ms_residual) / images, min(ms_seeds, ms_residual)
    # the residual part at min(ms_seeds, ms_residual), so that the shares add up to the variance used
    return _fitted(d.mean(), variance, df, seeds, images, seed_var, image_part / seeds, residual_var, True)


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
    return _fitted(means.mean(), seed_part + image_part, df, seeds, images, float(means.var(ddof=1)), image_variance)


def projected(values, seeds: int, images: int | None = None, seed_bound: bool = False) -> SeedsAndImages:
    """What `seeds_and_images` is expected to give for a design of `seeds` training seeds and `images` test images
    (default: the pilot's), from a pilot's seeds x images array: the pilot's variance parts (the standard model's),
    the planned design's mean squares at their expectations (var(e) + N var(a), var(e) + S var(b)). A pilot's seed
    variance rests on few degrees of freedom (3 seeds once put it at a fifth of what the grid found): `seed_bound`
    takes it at the upper 95% bound of its mean square, so that no accident of the pilot's seeds sizes a design."""
    d = _layout(values)
    pilot_seeds, pilot_images = d.shape
    images = pilot_images if images is None else images
    if seeds < 2 or images < 2:
        raise ValueError("a planned design needs at least 2 seeds and 2 images")
    ms_seeds, ms_images, ms_residual = _mean_squares(d)
    if seed_bound:
        ms_seeds = ms_seeds * (pilot_seeds - 1) / _chi2_lower(pilot_seeds - 1)
    seed_var = max(0.0, ms_seeds - ms_residual) / pilot_images
    image_var = max(0.0, ms_images - ms_residual) / pilot_seeds
    planned_seeds, planned_images = ms_residual + images * seed_var, ms_residual + seeds * image_var
    variance = (planned_seeds + max(0.0, planned_images - ms_residual)) / (seeds * images)
    if seeds <= CONSERVATIVE_SEEDS:
        df = _degrees_of_freedom(planned_seeds, planned_images, ms_residual, seeds, images)
    else:
        terms = [(planned_seeds, seeds - 1)] + ([(planned_images, images - 1)] if image_var > 0 else [])
        df_residual = (seeds - 1) * (images - 1) + (0 if image_var > 0 else images - 1)
        terms.append((ms_residual * (1 - 1 - (image_var > 0)), df_residual))
        df = _satterthwaite(terms, seeds)
    conservative = seeds <= CONSERVATIVE_SEEDS
    return _fitted(d.mean(), variance, df, seeds, images, seed_var, image_var, ms_residual, conservative)


def _sums_of_squares(d: np.ndarray) -> tuple[float, float, float]:
    """Sums of squares of a seeds x images layout without replication: seeds, images, residual."""
    seeds, images = d.shape
    grand = d.mean()
    seed_means, image_means = d.mean(axis=1), d.mean(axis=0)
    ss_seeds = images * float(((seed_means - grand) ** 2).sum())
    ss_images = seeds * float(((image_means - grand) ** 2).sum())
    ss_residual = max(0.0, float(((d - grand) ** 2).sum()) - ss_seeds - ss_images)
    return ss_seeds, ss_images, ss_residual


def _mean_squares(d: np.ndarray) -> tuple[float, float, float]:
    """Mean squares of a seeds x images layout without replication: seeds, images, residual
    (the same as an ANOVA of d ~ seed + image: tests/test_stats.py checks them against statsmodels)."""
    seeds, images = d.shape
    ss_seeds, ss_images, ss_residual = _sums_of_squares(d)
    return (ss_seeds / (seeds - 1), ss_images / (images - 1), ss_residual / ((seeds - 1) * (images - 1)))


def _degrees_of_freedom(ms_seeds: float, ms_images: float, ms_residual: float, seeds: int, images: int) -> float:
    """Satterthwaite's (1946) degrees of freedom for the variance (MS_seeds + MS_images - MS_residual), with
    MS_seeds at its upper 95% bound (for CONSERVATIVE_SEEDS seeds or fewer: plain Satterthwaite finds many degrees
    of freedom exactly when the variance is underestimated). At its bound the seeds' share keeps them near S - 1
    unless the images' share clearly dominates, where they grow towards the images' N - 1."""
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


def seeds_needed(result: SeedsAndImages, effect: float, most: int = 100) -> int | None:
    """The fewest training seeds (on the result's images) with which a one-sided 5% test detects a true
    difference of `effect` with 80% power, from `result`'s variance parts on S - 1 degrees of freedom (a t-test
    over seeds: no larger); None if `most` seeds would not."""
    if effect <= 0:
        return None
    n = result.images
    for seeds in range(2, most + 1):
        variance = result.seed_sd**2 / seeds + result.image_sd**2 / n + result.residual_sd**2 / (seeds * n)
        if detectable_effect(math.sqrt(variance), seeds - 1) <= effect:
            return seeds
    return None
