"""An axis's limits fitted to what it shows: every point with its error bar inside, a margin around them, within
the quantity's own range (0-100 for an accuracy in %), so that points which span a few percentage points are
not squeezed into a corner of a 0-100 axis."""

from __future__ import annotations

BOUNDS = (0.0, 100.0)  # the quantity's own range: an accuracy in %
MARGIN = 0.1  # of the span, on each side
LEAST_SPAN = 2.0


def fitted(lows: list[float], highs: list[float]) -> tuple[float, float]:
    """(low, high) for an axis showing intervals from `lows` to `highs` (a point without an error bar: the same
    value in both): their extent, widened to at least LEAST_SPAN and by MARGIN of it on each side, clipped to
    BOUNDS; BOUNDS itself when there is nothing to show."""
    if not lows:
        return BOUNDS
    low, high = min(lows), max(highs)
    span = max(high - low, LEAST_SPAN)
    middle = (low + high) / 2
    pad = span * (0.5 + MARGIN)
    return max(BOUNDS[0], middle - pad), min(BOUNDS[1], middle + pad)
