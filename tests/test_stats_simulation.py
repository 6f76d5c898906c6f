"""The test of a training method (`mixed_model.seeds_and_images`), checked by simulation: with known seed
and image variances, its 95% intervals cover the true difference at the nominal rate and its
one-sided 5% test calls a difference that is not there at most 5% of the time.

The simulated world (a probit model, like real accuracies bounded in [0, 1]): image i has a
difficulty shared by both methods and an effect of its own per method; seed s of a method shifts
every image of that run; each outcome is a coin with the resulting probability. The true method
difference, over seeds and images drawn at random, is known in closed form. The design is the
cpu reproduction's: 3 seeds per method, each scored on the same 1,000 images.

Tolerance: each rate is estimated from REPLICATES independent replications, so its binomial
standard error is sqrt(rate (1 - rate) / REPLICATES), 0.0049 for 95% and 2,000 replications; a
check allows 3 standard errors (a correct procedure fails one with probability about 0.1%). The
random streams are fixed, so the test is deterministic; the tolerance says how much the numbers
could have moved with other streams.
"""

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import binom, t

from sam_bench.stats import inference, mixed_model

SEEDS, IMAGES, REPLICATES = 3, 1000, 2000
NOMINAL = inference.CONFIDENCE
TOLERANCE_COVERAGE = 3 * np.sqrt(NOMINAL * (1 - NOMINAL) / REPLICATES)  # 0.0146
TOLERANCE_FALSE_POSITIVES = 3 * np.sqrt(inference.ALPHA * (1 - inference.ALPHA) / REPLICATES)  # 0.0146

# sd of (image difficulty, a method's own effect per image, a seed's shift of a run), probit scale.
WORLDS = {
    "seeds dominate (as in the cpu reproduction: seed sd 3-8 points)": (1.0, 0.3, 0.2),
    "images dominate (no seed variation)": (1.0, 0.8, 0.0),
    "seeds and images both vary": (1.0, 0.6, 0.1),
}


def simulate(rng, world, mean_a, mean_b, replicates=1000):
    """(replicates, seeds, images) correct-flags of two methods and the true accuracy difference."""
    image_sd, own_sd, seed_sd = world
    difficulty = rng.normal(0, image_sd, (replicates, 1, IMAGES))
    flags = []
    for mean in (mean_a, mean_b):
        z = (
            mean
            + difficulty
            + rng.normal(0, own_sd, (replicates, 1, IMAGES))
            + rng.normal(0, seed_sd, (replicates, SEEDS, 1))
        )
        flags.append(rng.random((replicates, SEEDS, IMAGES)) < ndtr(z))
    spread = np.sqrt(1 + image_sd**2 + own_sd**2 + seed_sd**2)  # E[Phi(m + Z)] = Phi(m / spread)
    return flags[0], flags[1], float(ndtr(mean_a / spread) - ndtr(mean_b / spread))


def replications(seed, world, mean_a, mean_b):
    """Each replication's test result, and the true difference."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(REPLICATES // 1000):
        a, b, truth = simulate(rng, world, mean_a, mean_b)
        results += [mixed_model.method_difference(x, y) for x, y in zip(a, b)]
    return results, truth


@pytest.mark.parametrize("world", WORLDS, ids=["seeds", "images", "both"])
def test_intervals_cover_the_true_difference_at_the_nominal_rate(world):
    results, truth = replications(1, WORLDS[world], -0.40, -0.50)  # SAM-like: about 3 points better
    assert 0.02 < truth < 0.04
    coverage = np.mean([low <= truth <= high for low, high in (r.interval() for r in results)])
    assert coverage >= NOMINAL - TOLERANCE_COVERAGE, (world, coverage)
    if world.startswith("seeds dominate"):  # our data's regime: nominal, not merely conservative
        assert coverage <= NOMINAL + TOLERANCE_COVERAGE, (world, coverage)


@pytest.mark.parametrize("world", WORLDS, ids=["seeds", "images", "both"])
def test_false_positive_rate_is_at_most_alpha(world):
    results, truth = replications(2, WORLDS[world], -0.45, -0.45)  # two equally good methods
    assert truth == 0
    for alternative in ("greater", "less"):
        rate = np.mean([r.p_value(alternative=alternative) < inference.ALPHA for r in results])
        assert rate <= inference.ALPHA + TOLERANCE_FALSE_POSITIVES, (world, alternative, rate)


def test_the_tests_it_replaces_call_differences_that_are_not_there():
    """Why: the exact McNemar test pooled over seeds holds the trained models fixed, so seed-to-seed
    variation reads as evidence; a t-test over seeds misses the images' share, which every seed
    shares. Both call far more than 5% false positives where this test stays at 5%."""
    rng = np.random.default_rng(3)
    a, b, _ = simulate(rng, WORLDS["seeds dominate (as in the cpu reproduction: seed sd 3-8 points)"], -0.45, -0.45)
    only_a, only_b = (a & ~b).sum(axis=(1, 2)), (~a & b).sum(axis=(1, 2))
    pooled_mcnemar = binom.sf(only_a - 1, only_a + only_b, 0.5)  # one-sided exact McNemar
    assert np.mean(pooled_mcnemar < inference.ALPHA) > 0.2
    a, b, _ = simulate(rng, WORLDS["images dominate (no seed variation)"], -0.45, -0.45)
    per_seed = a.mean(axis=2) - b.mean(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):  # a replication whose seeds agree exactly: t is infinite
        t_over_seeds = t.sf(per_seed.mean(axis=1) / (per_seed.std(axis=1, ddof=1) / np.sqrt(SEEDS)), SEEDS - 1)
    assert np.mean(t_over_seeds < inference.ALPHA) > inference.ALPHA + 3 * np.sqrt(inference.ALPHA * 0.95 / 1000)
    assert np.mean([mixed_model.method_difference(x, y).p_value() < inference.ALPHA for x, y in zip(a, b)]) <= 0.065


@pytest.mark.parametrize("seeds", [5, 10])
@pytest.mark.parametrize("world", WORLDS, ids=["seeds", "images", "both"])
def test_the_standard_model_calls_a_false_difference_at_the_nominal_rate(world, seeds):
    """From five seeds on, the crossed-effects REML fit with Satterthwaite's degrees of freedom: false
    verdicts within Monte Carlo error of 5% (3 standard errors of 2,000 replications each way: 3.5-6.5%),
    on the confirmatory design's 1,000 images. (On 300 the outcomes' discreteness pulls even the exact
    test below nominal where seeds do not vary: a t-test over images 4.1-4.5%, this model 3.5%. With no
    seed variance at 5 seeds the model runs slightly conservative, 3.9-4.0% measured: a seed share
    estimated above zero on 4 degrees of freedom is kept.)"""
    rng = np.random.default_rng(seeds)
    image_sd, own_sd, seed_sd = WORLDS[world]
    images = 1000
    rates = {"greater": 0, "less": 0}
    for _ in range(REPLICATES // 500):
        difficulty = rng.normal(0, image_sd, (500, 1, images))
        flags = [
            rng.random((500, seeds, images))
            < ndtr(
                -0.45 + difficulty + rng.normal(0, own_sd, (500, 1, images)) + rng.normal(0, seed_sd, (500, seeds, 1))
            )
            for _ in range(2)
        ]
        for a, b in zip(*flags):
            result = mixed_model.method_difference(a, b)
            assert not result.conservative
            for alternative in rates:
                rates[alternative] += result.p_value(alternative=alternative) < inference.ALPHA
    for alternative, count in rates.items():
        rate = count / REPLICATES
        assert abs(rate - inference.ALPHA) <= TOLERANCE_FALSE_POSITIVES, (world, seeds, alternative, rate)
