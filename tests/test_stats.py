"""The statistics behind intervals and verdicts, against hand-computed cases, published worked
examples and scipy.stats where it has the same test."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes
from sam_bench.stats import inference, mixed_model


def test_wilson_by_hand_and_against_scipy():
    # 0 of 10: the lower end is 0 and the upper end is z^2 / (n + z^2)
    z2 = inference.z_value() ** 2
    assert inference.wilson(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert inference.wilson(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    # 5 of 10: symmetric about 1/2, half-width z sqrt(n/4 + z^2/4) / (n + z^2)
    half = math.sqrt(inference.z_value() ** 2 * (10 / 4 + z2 / 4)) / (10 + z2)
    assert inference.wilson(5, 10) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    for k, n in [(1, 7), (706, 1000), (35, 100), (999, 1000)]:
        ci = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert inference.wilson(k, n) == (pytest.approx(ci.low), pytest.approx(ci.high))
    with pytest.raises(ValueError):
        inference.wilson(11, 10)


def test_mcnemar_exact_by_hand():
    # 10 images only the first model gets right, 2 only the second: under H0 each is a fair coin,
    # two-sided p = 2 P(X <= 2 | 12, 1/2) = 2 (1 + 12 + 66) / 4096
    table = inference.PairedTable(both=50, only_first=10, only_second=2, neither=38)
    assert inference.mcnemar_exact(table) == pytest.approx(158 / 4096)
    assert inference.mcnemar_exact(inference.PairedTable(5, 3, 3, 9)) == 1.0
    assert inference.mcnemar_exact(inference.PairedTable(5, 0, 0, 9)) == 1.0  # nothing discordant: no evidence
    assert table.difference == pytest.approx(0.08) and table.n == 100


def test_paired_table_from_outcomes():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    assert inference.PairedTable.of(a, b) == inference.PairedTable(1, 2, 1, 1)
    with pytest.raises(ValueError):
        inference.PairedTable.of(a, b[:4])


def test_newcombe_intervals():
    # Newcombe (1998, Statistics in Medicine 17:873), worked example: 56/70 - 48/80, method 10
    low, high = inference.unpaired_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # paired: with no correlation (phi = 0) it equals the unpaired interval of the two margins
    table = inference.PairedTable(both=20, only_first=20, only_second=30, neither=30)  # phi = 0
    assert inference.paired_interval(table) == pytest.approx(inference.unpaired_interval(40, 100, 50, 100))
    # positive correlation (the usual case: same images) narrows it
    correlated = inference.PairedTable(both=60, only_first=8, only_second=4, neither=28)
    lo, hi = inference.paired_interval(correlated)
    ulo, uhi = inference.unpaired_interval(68, 100, 64, 100)
    assert lo < correlated.difference < hi and hi - lo < uhi - ulo


def test_paired_interval_covers_95_percent():
    """Coverage by simulation: two correlated classifiers on 300 images, 2,000 repetitions."""
    rng = np.random.default_rng(0)
    probabilities = [0.55, 0.08, 0.05, 0.32]  # both, only first, only second, neither
    truth = probabilities[1] - probabilities[2]
    covered = 0
    for _ in range(2000):
        counts = rng.multinomial(300, probabilities)
        lo, hi = inference.paired_interval(inference.PairedTable(*map(int, counts)))
        covered += lo <= truth <= hi
    assert 0.93 <= covered / 2000 <= 0.97


def test_holm_by_hand():
    assert inference.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert inference.holm([0.5]) == [0.5]
    assert inference.holm([0.2, 0.9, 0.01, 0.04]) == pytest.approx([0.4, 0.9, 0.04, 0.12])


def test_mean_squares_equal_statsmodels_anova():
    """The seeds x images mean squares are those of statsmodels' two-way ANOVA (d ~ seed + image)."""
    sm = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(4)
    d = (rng.random((3, 40)) < 0.6).astype(float) - (rng.random((3, 40)) < 0.5) + rng.normal(0, 0.1, (3, 1))
    seed, image = np.indices(d.shape)
    table = anova_lm(
        sm.ols("d ~ C(seed) + C(image)", {"d": d.ravel(), "seed": seed.ravel(), "image": image.ravel()}).fit()
    )
    assert mixed_model._mean_squares(d) == pytest.approx(tuple(table["mean_sq"]))


def test_seeds_and_images_by_hand():
    # 2 seeds x 4 images: seed means 2.5 and 4.5, image means 3, 1, 6, 4 around 3.5; total sum of
    # squares 38 = 8 (seeds: 4 x (1 + 1)) + 26 (images: 2 x (0.25 + 6.25 + 6.25 + 0.25)) + 4 (residual)
    d = np.array([[2.0, 0.0, 6.0, 2.0], [4.0, 2.0, 6.0, 6.0]])
    ms_seeds, ms_images, ms_residual = 8.0 / 1, 26.0 / 3, 4.0 / 3
    assert mixed_model._mean_squares(d) == pytest.approx((ms_seeds, ms_images, ms_residual))
    result = mixed_model.seeds_and_images(d)
    variance = (ms_seeds + ms_images - ms_residual) / 8  # the seeds' and the images' parts
    assert result.estimate == 3.5 and result.standard_error == pytest.approx(math.sqrt(variance))
    assert result.seed_sd == pytest.approx(math.sqrt((ms_seeds - ms_residual) / 4))
    assert result.image_sd == pytest.approx(math.sqrt((ms_images - ms_residual) / 2))
    # degrees of freedom: Satterthwaite with MS_seeds at its 95% upper bound (1 df here)
    upper = ms_seeds / scipy_stats.chi2.ppf(0.05, 1)
    df = (upper + ms_images - ms_residual) ** 2 / (upper**2 / 1 + ms_images**2 / 3 + ms_residual**2 / 3)
    assert result.df == pytest.approx(df) and 1 <= result.df < 1.01
    statistic = 3.5 / math.sqrt(variance)
    assert result.p_value() == pytest.approx(scipy_stats.t.sf(statistic, df))
    assert result.p_value(margin=1.0, alternative="less") == pytest.approx(
        scipy_stats.t.cdf(4.5 / math.sqrt(variance), df)
    )
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(variance)
    assert result.interval() == (pytest.approx(3.5 - half), pytest.approx(3.5 + half))
    with pytest.raises(ValueError):
        mixed_model.seeds_and_images(d[:1])


def test_without_image_variation_it_is_the_t_test_over_seeds():
    # Every image of a seed has the same value: the images add nothing, and what is left is the
    # one-sample t-test over the seeds' means
    means = np.array([0.01, 0.02, 0.03])
    result = mixed_model.seeds_and_images(np.repeat(means[:, None], 50, axis=1))
    assert result.df == pytest.approx(2) and result.image_sd == 0
    assert result.p_value() == pytest.approx(scipy_stats.ttest_1samp(means, 0, alternative="greater").pvalue)


def test_a_method_difference_pairs_seed_s_with_seed_s():
    rng = np.random.default_rng(5)
    a, b = rng.random((3, 200)) < 0.6, rng.random((3, 200)) < 0.5
    assert mixed_model.method_difference(a, b) == mixed_model.seeds_and_images(a.astype(float) - b)
    with pytest.raises(ValueError):
        mixed_model.method_difference(a, b[:2])


def test_seeds_and_images_from_means_bounds_the_images_share():
    result = mixed_model.seeds_and_images_from_means([0.05, 0.02, 0.08], image_variance=0.4, images=1000)
    assert result.estimate == pytest.approx(0.05)
    assert result.standard_error**2 == pytest.approx(np.var([0.05, 0.02, 0.08], ddof=1) / 3 + 0.4 / 1000)
    assert 2 <= result.df < 1000


def test_accuracy_interval_stays_within_what_an_accuracy_can_be():
    none_right = mixed_model.seeds_and_images(np.zeros((3, 1000)))
    low, high = mixed_model.accuracy_interval(none_right)
    assert low == 0.0 and high == pytest.approx(inference.wilson(0, 3000)[1])  # not [0, 0]
    rng = np.random.default_rng(6)
    spread = mixed_model.seeds_and_images((rng.random((3, 1000)) < np.array([[0.02], [0.10], [0.05]])).astype(float))
    high = pytest.approx(spread.interval()[1])
    assert spread.interval()[0] < 0 and mixed_model.accuracy_interval(spread) == (0.0, high)


def test_detectable_effect_has_the_stated_power():
    for se, df in [(0.02, 2.0), (0.01, 5.3), (0.004, 999.0)]:
        effect = inference.detectable_effect(se, df)
        critical = scipy_stats.t.ppf(0.95, df)
        assert scipy_stats.nct.sf(critical, df, effect / se) == pytest.approx(0.8)
    # with many degrees of freedom it is the normal-theory (z_0.95 + z_0.8) x standard error
    z = scipy_stats.norm.ppf
    assert inference.detectable_effect(0.01, 1e6) == pytest.approx((z(0.95) + z(0.8)) * 0.01, rel=1e-3)
    assert inference.detectable_effect(0.0, 2.0) == 0.0
    # fewer seeds, bigger effects: 2 degrees of freedom (3 seeds) need 4 standard errors, not 2.5
    assert inference.detectable_effect(0.01, 2.0) == pytest.approx(0.0398, abs=1e-4)


def test_median_interval_is_the_order_statistics_interval():
    values = [1.0, 1.2, 0.9, 1.1, 1.3, 1.05, 0.95, 1.15, 1.0, 1.02]
    # 10 values: the 2nd and 9th smallest cover the median with probability 1 - 2 P(Bin(10, 1/2) <= 1) = 97.9%
    assert inference.median_interval(values) == (pytest.approx(1.035), 0.95, 1.2)
    assert inference.median_interval([1.0, 2.0, 3.0]) == (2.0, None, None)  # 3 values cannot reach 95%


def test_one_sided_exact_tests():
    table = inference.PairedTable(both=50, only_first=10, only_second=2, neither=38)
    assert inference.mcnemar_exact(table, "greater") == pytest.approx(79 / 4096)  # P(X >= 10 | 12, 1/2)
    assert inference.mcnemar_exact(table, "less") == pytest.approx(1 - 79 / 4096 + 66 / 4096)
    assert inference.fisher_p(56, 70, 48, 80, "greater") == pytest.approx(
        scipy_stats.fisher_exact([[56, 14], [48, 32]], alternative="greater").pvalue
    )
    assert inference.paired_standard_error(table) == pytest.approx(math.sqrt((12 / 100 - (8 / 100) ** 2) / 100))


def test_noninferiority_tests():
    even = inference.PairedTable(both=600, only_first=20, only_second=20, neither=360)
    assert inference.noninferiority_p(even, 0.005) == pytest.approx(
        1 - inference.statistics.NormalDist().cdf(0.005 / math.sqrt(40 / 1000 / 1000))
    )
    assert inference.noninferiority_p(inference.PairedTable(600, 60, 20, 320), 0.005) < 0.001  # clearly better
    assert inference.noninferiority_p(inference.PairedTable(600, 20, 60, 320), 0.005) > 0.99  # clearly worse
    assert 0.3 < inference.unpaired_noninferiority_p(700, 1000, 700, 1000, 0.005) < 0.5
    assert inference.fisher_p(56, 70, 48, 80) == pytest.approx(scipy_stats.fisher_exact([[56, 14], [48, 32]]).pvalue)


def test_outcomes_round_trip_and_alignment():
    flags = np.random.default_rng(1).random(1003) < 0.4
    record = outcomes.encode(flags, start=7)
    assert record["n"] == 1003 and record["start"] == 7 and record["encoding"] == "packbits-base64"
    assert len(record["bits"]) == 4 * math.ceil(126 / 3)  # 126 bytes in base64
    assert np.array_equal(outcomes.decode(record), flags)
    parts = [outcomes.encode(flags[:500], 0), outcomes.encode(flags[500:], 500)]
    assert np.array_equal(outcomes.decode(outcomes.concatenate(parts)), flags)
    with pytest.raises(SamBenchError, match="not consecutive"):
        outcomes.concatenate([parts[1], parts[0]])
    a, b = outcomes.aligned(outcomes.encode(flags, 0), outcomes.encode(flags[100:300], 100))
    assert np.array_equal(a, flags[100:300]) and np.array_equal(b, flags[100:300])
    with pytest.raises(SamBenchError, match="unknown encoding"):
        outcomes.decode({"encoding": "png"})


def test_a_projected_design_matches_the_pilot_at_its_own_size_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(1)
    seeds, images = 3, 400
    seed_effect = rng.normal(0, 0.05, size=(seeds, 1))  # seeds dominate: both variance parts above the residual
    image_effect = rng.normal(0, 0.3, size=(1, images))
    d = 0.02 + seed_effect + image_effect + rng.normal(0, 0.1, size=(seeds, images))
    same = mixed_model.projected(d, seeds)
    direct = mixed_model.seeds_and_images(d)
    assert same.standard_error == pytest.approx(direct.standard_error)
    assert same.df == pytest.approx(direct.df) and same.seed_sd == pytest.approx(direct.seed_sd)
    more = mixed_model.projected(d, 10)
    assert more.standard_error < same.standard_error and more.detectable() < same.detectable()
    assert more.estimate == direct.estimate and (more.seeds, more.images) == (10, images)
    fewer_images = mixed_model.projected(d, seeds, images=100)
    assert fewer_images.standard_error > same.standard_error
    with pytest.raises(ValueError):
        mixed_model.projected(d, 1)


def test_seeds_that_agree_exactly_leave_a_usable_reference_distribution():
    """Every seed's difference exactly the same and the images' share hardly above the residual: the
    Satterthwaite degrees of freedom would fall below 1 (0.07 here) and the detectable effect's root
    search failed; they stay at 1 or more, and every number is finite."""
    first = np.zeros((3, 1000))
    second = np.zeros((3, 1000))
    for row, seed in enumerate((5, 6, 7)):
        order = np.random.default_rng(seed).permutation(1000)
        first[row, order[:80]] = 1
        second[row, order[:50]] = 1  # 30 images more for the first on every seed, nested
    result = mixed_model.method_difference(first, second)
    assert result.df >= 1 and result.estimate == pytest.approx(0.03)
    assert np.isfinite(result.detectable()) and result.p_value() < 0.05
    images = mixed_model.over_images(first[0] - second[0])
    assert images.seeds == 1 and images.df == 999 and images.interval()[0] < 0.03 < images.interval()[1]


def _statsmodels_crossed(y):
    """statsmodels' REML fit of y[s, i] = mean + a_s + b_i + e_si: (var(a), var(b), var(e), se of the mean)."""
    import warnings

    import pandas as pd
    import statsmodels.formula.api as smf

    seeds, images = y.shape
    frame = pd.DataFrame(
        {"y": y.ravel(), "seed": np.repeat(np.arange(seeds), images), "image": np.tile(np.arange(images), seeds)}
    )
    frame["all"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits warn; the numbers are what is compared
        fit = smf.mixedlm(
            "y ~ 1", frame, groups="all", vc_formula={"seed": "0 + C(seed)", "image": "0 + C(image)"}, re_formula="0"
        ).fit(reml=True)
    components = dict(zip(fit.model.exog_vc.names, fit.vcomp))
    return components["seed"], components["image"], fit.scale, fit.bse["Intercept"]


@pytest.mark.parametrize(
    "seed_sd, image_sd, residual_sd, draw",
    [(0.5, 0.8, 0.3, 3), (0.0, 0.8, 0.3, 4), (0.4, 0.0, 0.3, 5)],
    ids=["both", "no seed effect (pooled)", "no image effect (pooled)"],
)
def test_the_standard_model_is_statsmodels_reml_fit(seed_sd, image_sd, residual_sd, draw):
    """Five seeds and more: the crossed-effects REML fit in closed form, as statsmodels' MixedLM finds it
    numerically. Where a component's mean square falls below the residual's, REML puts it at zero (the
    draws chosen so that it happens: asserted) and pools its sum of squares into the residual; there the
    likelihood is flat and statsmodels' optimizer stops a few per cent short of the boundary (measured:
    seed variance 0.144 against its 0.151), hence the tolerances."""
    rng = np.random.default_rng(draw)
    seeds, images = 6, 40
    y = (
        1.0
        + rng.normal(0, seed_sd, (seeds, 1))
        + rng.normal(0, image_sd, (1, images))
        + rng.normal(0, residual_sd, (seeds, images))
    )
    ours = mixed_model.seeds_and_images(y)
    seed_var, image_var, residual_var, se = _statsmodels_crossed(y)
    assert not ours.conservative
    assert (ours.seed_sd == 0) == (seed_sd == 0) and (ours.image_sd == 0) == (image_sd == 0)
    assert ours.seed_sd**2 == pytest.approx(seed_var, rel=6e-2, abs=1e-3)
    assert ours.image_sd**2 == pytest.approx(image_var, rel=3e-2, abs=1e-3)
    assert ours.residual_sd**2 == pytest.approx(residual_var, rel=1e-2)
    assert ours.standard_error == pytest.approx(se, rel=3e-2)


@pytest.mark.parametrize("seeds", [2, 3, 5, 10])
def test_the_standard_errors_parts_add_up(seeds):
    """seeds, images and residual in quadrature are the standard error, whichever way it was counted ('standard
    error 0.31 points: seeds 0.00, images 0.14', with the residual left out, did not)."""
    rng = np.random.default_rng(seeds)
    for _ in range(20):
        d = (rng.random((seeds, 300)) < 0.3).astype(float) - (rng.random((seeds, 300)) < 0.25).astype(float)
        r = mixed_model.seeds_and_images(d)
        parts = r.seed_share**2 + r.image_share**2 + r.residual_share**2
        assert parts == pytest.approx(r.standard_error**2, rel=1e-9)
        assert r.conservative == (seeds <= mixed_model.CONSERVATIVE_SEEDS)


def test_a_pilot_can_be_sized_by_the_upper_bound_of_its_seed_variance():
    rng = np.random.default_rng(1)
    pilot = rng.normal(0, 0.3, (3, 1)) + rng.normal(0, 1, (3, 200))
    at_estimate = mixed_model.projected(pilot, 5)
    bounded = mixed_model.projected(pilot, 5, seed_bound=True)
    assert bounded.seed_sd > at_estimate.seed_sd and bounded.detectable() > at_estimate.detectable()
    assert not at_estimate.conservative and mixed_model.projected(pilot, 3).conservative
