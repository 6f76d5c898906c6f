"""The statistics behind intervals and verdicts, against hand-computed cases, published worked
examples and scipy.stats where it has the same test."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from sam_bench import outcomes, stats
from sam_bench.errors import SamBenchError


def test_wilson_by_hand_and_against_scipy():
    # 0 of 10: the lower end is 0 and the upper end is z^2 / (n + z^2)
    z2 = stats.z_value() ** 2
    assert stats.wilson(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert stats.wilson(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)
    # 5 of 10: symmetric about 1/2, half-width z sqrt(n/4 + z^2/4) / (n + z^2)
    half = math.sqrt(stats.z_value() ** 2 * (10 / 4 + z2 / 4)) / (10 + z2)
    assert stats.wilson(5, 10) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    for k, n in [(1, 7), (706, 1000), (35, 100), (999, 1000)]:
        ci = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert stats.wilson(k, n) == (pytest.approx(ci.low), pytest.approx(ci.high))
    with pytest.raises(ValueError):
        stats.wilson(11, 10)


def test_mcnemar_exact_by_hand():
    # 10 images only the first model gets right, 2 only the second: under H0 each is a fair coin,
    # two-sided p = 2 P(X <= 2 | 12, 1/2) = 2 (1 + 12 + 66) / 4096
    table = stats.PairedTable(both=50, only_first=10, only_second=2, neither=38)
    assert stats.mcnemar_exact(table) == pytest.approx(158 / 4096)
    assert stats.mcnemar_exact(stats.PairedTable(5, 3, 3, 9)) == 1.0
    assert stats.mcnemar_exact(stats.PairedTable(5, 0, 0, 9)) == 1.0  # nothing discordant: no evidence
    assert table.difference == pytest.approx(0.08) and table.n == 100


def test_paired_table_from_outcomes():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    assert stats.PairedTable.of(a, b) == stats.PairedTable(1, 2, 1, 1)
    assert stats.PairedTable.of(a, b) + stats.PairedTable(1, 0, 0, 0) == stats.PairedTable(2, 2, 1, 1)
    with pytest.raises(ValueError):
        stats.PairedTable.of(a, b[:4])


def test_newcombe_intervals():
    # Newcombe (1998, Statistics in Medicine 17:873), worked example: 56/70 - 48/80, method 10
    low, high = stats.unpaired_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # paired: with no correlation (phi = 0) it equals the unpaired interval of the two margins
    table = stats.PairedTable(both=20, only_first=20, only_second=30, neither=30)  # phi = 0
    assert stats.paired_interval(table) == pytest.approx(stats.unpaired_interval(40, 100, 50, 100))
    # positive correlation (the usual case: same images) narrows it
    correlated = stats.PairedTable(both=60, only_first=8, only_second=4, neither=28)
    lo, hi = stats.paired_interval(correlated)
    ulo, uhi = stats.unpaired_interval(68, 100, 64, 100)
    assert lo < correlated.difference < hi and hi - lo < uhi - ulo


def test_paired_interval_covers_95_percent():
    """Coverage by simulation: two correlated classifiers on 300 images, 2,000 repetitions."""
    rng = np.random.default_rng(0)
    probabilities = [0.55, 0.08, 0.05, 0.32]  # both, only first, only second, neither
    truth = probabilities[1] - probabilities[2]
    covered = 0
    for _ in range(2000):
        counts = rng.multinomial(300, probabilities)
        lo, hi = stats.paired_interval(stats.PairedTable(*map(int, counts)))
        covered += lo <= truth <= hi
    assert 0.93 <= covered / 2000 <= 0.97


def test_holm_by_hand():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5]) == [0.5]
    assert stats.holm([0.2, 0.9, 0.01, 0.04]) == pytest.approx([0.4, 0.9, 0.04, 0.12])


def test_seed_test_by_hand_and_against_scipy():
    # differences 1, 2, 3 points: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464 with 2 degrees of freedom
    result = stats.seed_test([0.01, 0.02, 0.03])
    t = 0.02 / (0.01 / math.sqrt(3))
    assert result.mean == pytest.approx(0.02)
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(t, 2))
    assert result.p_value == pytest.approx(scipy_stats.ttest_1samp([0.01, 0.02, 0.03], 0).pvalue)
    half = scipy_stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert (result.low, result.high) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    # non-inferiority: H0 mean <= -margin, one-sided
    shifted = stats.seed_test([-0.002, 0.0, 0.002], margin=0.005)
    assert shifted.p_value == pytest.approx(scipy_stats.ttest_1samp([0.003, 0.005, 0.007], 0, alternative="greater").pvalue)
    with pytest.raises(ValueError):
        stats.seed_test([0.01])


def test_noninferiority_tests():
    even = stats.PairedTable(both=600, only_first=20, only_second=20, neither=360)
    assert stats.noninferiority_p(even, 0.005) == pytest.approx(1 - stats.statistics.NormalDist().cdf(0.005 / math.sqrt(40 / 1000 / 1000)))
    assert stats.noninferiority_p(stats.PairedTable(600, 60, 20, 320), 0.005) < 0.001  # clearly better
    assert stats.noninferiority_p(stats.PairedTable(600, 20, 60, 320), 0.005) > 0.99  # clearly worse
    assert 0.3 < stats.unpaired_noninferiority_p(700, 1000, 700, 1000, 0.005) < 0.5
    assert stats.fisher_p(56, 70, 48, 80) == pytest.approx(scipy_stats.fisher_exact([[56, 14], [48, 32]]).pvalue)


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
