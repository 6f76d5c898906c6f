"""An axis's limits fitted to what it shows: every point with its error bar inside, a margin around them, within
the quantity's own range (0-100 for an accuracy in %), so that points which span a few percentage points are
not squeezed into a corner of a 0-100 axis."""

from __future__ import annotations


def fitted(
    lows: list[float],
    highs: list[float],
    *,
    bounds: tuple[float, float] = (0.0, 100.0),
    margin: float = 0.1,
    least_span: float = 2.0,
) -> tuple[float, float]:
    """(low, high) for an axis showing intervals from `lows` to `highs` (a point without an error bar: the same
    value in both): their extent, widened to at least `least_span` and by `margin` of it on each side, clipped to
    `bounds`; `bounds` itself when there is nothing to show."""
    if not lows:
        return bounds
    low, high = min(lows), max(highs)
    span = max(high - low, least_span)
    middle = (low + high) / 2
    pad = span * (0.5 + margin)
    return max(bounds[0], middle - pad), min(bounds[1], middle + pad)
