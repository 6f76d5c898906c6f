"""How likely a spot check refuses a change of a results file, computed exactly, and the sample that makes it likely.

A check draws m of a stratum's `stratum` images, k of them changed, and counts the images measured the other way,
D = X + Z: X ~ Binomial(m - Y, rate) faithful ones differing by chance, Z ~ Binomial(Y, differ) changed ones,
Y ~ Hypergeometric(stratum, k, m). It refuses where P(Binomial(m, chance) >= D) < ALPHA, `chance` its rule's
(check_rules); its power is P(D >= d*), d* the smallest count chance explains less often than ALPHA.
`sample_size` sizes a stratum's sample for a 1-point change at POWER; `smallest_refused_change` says which change a
rule that cannot reach that refuses in >= 99% of checks (files recorded before per-image draws)."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.stats import binom, hypergeom

# The target every sample size is derived from: a change of CHANGE (1 point) of any figure, up or down, refused
# with probability >= 99% per check, designed at POWER = 99.9% so that 99 of 100 checks refuse it with room to
# spare (at 99% exactly, 98 of 100 is as likely as not).
CHANGE = 0.01
POWER = 0.999
TARGET = 0.99  # what a stated change is refused with: "checked for changes of >= N points"
ALPHA = 1e-3  # a stratum is refused where chance explains what differs less often than this


def changed_images(n: int, change: float = CHANGE) -> int:
    """Images a change of `change` of a figure over n images flips at the least: ceil(change n), at least one."""
    return max(1, math.ceil(change * n - 1e-9))


@functools.lru_cache(maxsize=65536)
def critical(m: int, chance: float) -> int:
    """The smallest count of differing images among m that chance explains less often than ALPHA: P(Binomial(m,
    chance) >= d) < ALPHA (1 where chance is 0: any differing image refuses); m + 1 where none is."""
    if chance <= 0:
        return 1
    d = int(binom.ppf(1 - ALPHA, m, chance))  # P(X > d) <= ALPHA
    while d > 0 and binom.sf(d - 2, m, chance) < ALPHA:  # P(X >= d - 1) < ALPHA too
        d -= 1
    while binom.sf(d - 1, m, chance) >= ALPHA:  # P(X >= d) must be below ALPHA
        d += 1
    return min(d, m + 1)


def _support(dist, low: int, high: int) -> np.ndarray:
    """The values of a discrete distribution that carry all but a negligible (1e-12) share of its mass."""
    a, b = dist.ppf(1e-12), dist.isf(1e-12)
    return np.arange(max(low, int(a) - 1), min(high, int(b) + 1) + 1)


def refusal_probability(stratum: int, k: int, m: int, chance: float, rate: float, differ: float) -> float:
    """P(a check refuses the stratum): `stratum` images, k of them changed, m drawn without replacement; faithful
    images differ with probability `rate`, changed ones with `differ`; refused where P(Binomial(m, chance) >= D) <
    ALPHA."""
    if m <= 0 or stratum <= 0:
        return 0.0
    m, k = min(m, stratum), min(k, stratum)
    d = critical(m, chance)
    if d > m:
        return 0.0
    ys = _support(hypergeom(stratum, k, m), max(0, m - (stratum - k)), min(k, m))
    weights = hypergeom.pmf(ys, stratum, k, m)
    total = 0.0
    for y, w in zip(ys, weights):
        if w < 1e-15:
            continue
        y = int(y)
        if y == 0:
            zs, pz = np.array([0]), np.array([1.0])
        else:
            zs = _support(binom(y, differ), 0, y)
            pz = binom.pmf(zs, y, differ)
        # P(X >= d - z) for X ~ Binomial(m - y, rate): sf(d - z - 1)
        tail = binom.sf(d - zs - 1, m - y, rate) if m - y > 0 else (d - zs <= 0).astype(float)
        total += w * float(np.sum(pz * tail))
    return min(1.0, total)


@functools.lru_cache(maxsize=65536)
def sample_size(stratum: int, n: int, chance: float = 0.0, rate: float | None = None, differ: float = 1.0) -> int:
    """The smallest m images to draw from a stratum of an evaluation over n images for a check to refuse a 1-point
    change (k = changed_images(n) changed images there) with probability >= POWER under a rule's `chance` (faithful
    images differing at `rate`, default the chance; changed ones at `differ`); every image where none reaches it.
    With chance 0 it is the smallest m with C(stratum - k, m) / C(stratum, m) <= 1 - POWER (687 at k / stratum 1%)."""
    if stratum <= 0:
        return 0
    k = changed_images(n)
    rate = chance if rate is None else rate
    if chance == 0 and rate == 0 and differ == 1:
        missed = 1.0  # P(none of the k drawn) after m draws without replacement
        for m in range(stratum):
            missed *= max(0.0, (stratum - k - m) / (stratum - m))
            if missed <= 1 - POWER:
                return m + 1
        return stratum

    def enough(m: int) -> bool:
        return refusal_probability(stratum, k, m, chance, rate, differ) >= POWER

    if not enough(stratum):
        return stratum
    return _smallest(enough, 0, stratum)


def smallest_refused_change(
    n: int,
    robust: int,
    fooled: int,
    chances: tuple[float, float],
    rates: tuple[float, float],
    sizes: tuple | None = None,
    retries: int = 0,
) -> int | None:
    """The smallest change, in whole points, of an evaluation over n images (`robust` and `fooled` of its
    clean-correct images) that a check refuses in >= TARGET of checks both ways, under the rule's `chances`, the
    measured faithful `rates` (recorded robust, recorded fooled), each stratum's sample `sizes` (stratum, n) -> m
    (recorded robust, recorded fooled: a rule's `sizes()`; default the chance-0 `sample_size` for both) and
    `retries` of a recorded-fooled image the re-run leaves correct. Up moves k fooled
    images to robust (each differs unless the re-run leaves it correct); down, k robust to fooled (each differs
    unless the re-run or a retry fools it). None where no change up to the whole figure is refused so often."""
    robust_sizes, fooled_sizes = sizes or (sample_size, sample_size)
    survive = rates[1] ** (1 + retries)  # a faithful fooled image left correct by every try
    down_differ = (1 - rates[0]) ** (1 + retries)  # a robust image recorded fooled, left correct by every try

    def refused(points: int) -> bool:
        k = changed_images(n, points / 100)
        up = k > fooled or _refused(robust + k, k, n, robust_sizes, chances[0], rates[0], 1 - rates[1])
        return up and (k > robust or _refused(fooled + k, k, n, fooled_sizes, chances[1], survive, down_differ))

    if refused(1):
        return 1
    if not refused(100):
        return None
    return _smallest(refused, 1, 100)  # a larger change is refused at least as often


def _smallest(holds, low: int, high: int) -> int:
    """The smallest m in (low, high] for which `holds` (true of every m above one it is true of), where it holds
    of `high` and is not known to hold of `low`: by bisection."""
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def _refused(stratum: int, k: int, n: int, sizes, chance: float, rate: float, differ: float) -> bool:
    return refusal_probability(stratum, k, sizes(stratum, n), chance, rate, differ) >= TARGET
