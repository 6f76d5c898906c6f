"""Labels on a scatter plot that do not cover one another.

Many models of a board sit at the same point (every standard or SAM model at 0% AutoAttack accuracy at Linf
8/255), and labels written at a fixed offset from their points overprint into an unreadable blot. Each label
here is placed, in the order given, at the first of a ring of offsets around its point (nearest first) where it
stays inside the axes and overlaps no label placed before and no point; one that had to move away from its
point is tied to it by a thin line, so every label still names its own point. `pyplot` sets up matplotlib for
every figure the package draws.
"""

from __future__ import annotations

import itertools
from types import ModuleType

from sam_bench import files

# Offsets tried around a point, in typographic points: nearest rings first, eight directions each
_RADII = (5, 11, 18, 26, 36, 48, 62, 80)
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_POINT_RADIUS_PX = 4  # a marker's half-width: a label over a point hides it


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the Agg backend (files only), imported where a figure is drawn: the CLI starts
    without it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def board_plot():
    """(figure, axes) of a board's clean-vs-robust scatter plot."""
    return pyplot().subplots(figsize=(7.2, 5.4), dpi=120)


def board_png(fig, ax, xs: list[float], ys: list[float], texts: list[str]) -> bytes:
    """The PNG (no version stamp), both axes from zero: distances read as accuracy differences."""
    ax.set_xlim(0, min(100, max(xs + [10.0]) * 1.1 + 2))
    ax.set_ylim(0, min(100, max(ys + [10.0]) * 1.1 + 2))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    place(ax, xs, ys, texts)
    png = files.png_bytes(fig)
    pyplot().close(fig)
    return png


def place(ax, xs: list[float], ys: list[float], texts: list[str], fontsize: float = 8) -> None:
    """Annotate point (xs[i], ys[i]) with texts[i], every label clear of the others and of the points."""
    fig = ax.figure
    fig.canvas.draw()  # the renderer and the axes' final transform
    renderer = fig.canvas.get_renderer()
    to_pixels = ax.transData.transform
    points = [tuple(to_pixels((x, y))) for x, y in zip(xs, ys)]
    r = _POINT_RADIUS_PX
    taken: list[tuple[float, float, float, float]] = [(px - r, py - r, px + r, py + r) for px, py in points]
    scale = fig.dpi / 72  # typographic points to pixels
    inside = ax.get_window_extent(renderer)  # labels stay within the axes: below them are the tick labels
    for (x, y), text in zip(zip(xs, ys), texts):
        label = ax.annotate(text, (x, y), textcoords="offset points", xytext=(0, 0), fontsize=fontsize)
        box = label.get_window_extent(renderer)
        width, height = box.width, box.height
        px, py = to_pixels((x, y))
        chosen = None
        for radius, (dx, dy) in itertools.product(_RADII, _DIRECTIONS):
            left = px + dx * radius * scale - (width if dx < 0 else 0 if dx > 0 else width / 2)
            bottom = py + dy * radius * scale - (height if dy < 0 else 0 if dy > 0 else height / 2)
            candidate = (left, bottom, left + width, bottom + height)
            within = inside.x0 <= left and left + width <= inside.x1 and inside.y0 <= bottom
            if within and bottom + height <= inside.y1 and not any(_overlap(candidate, o) for o in taken):
                chosen = (radius, candidate)
                break
        if chosen is None:  # no free place within reach: the farthest ring, up and right
            radius = _RADII[-1]
            left, bottom = px + radius * scale, py + radius * scale
            chosen = (radius, (left, bottom, left + width, bottom + height))
        radius, (left, bottom, right, top) = chosen
        label.remove()
        label = ax.annotate(
            text,
            (x, y),
            xytext=((left - px) / scale, (bottom - py) / scale),
            textcoords="offset points",
            fontsize=fontsize,
            va="bottom",
            ha="left",
            arrowprops={"arrowstyle": "-", "color": "0.55", "linewidth": 0.5} if radius > _RADII[0] else None,
        )
        taken.append((left, bottom, right, top))


_GAP_PX = 1.5  # room kept between two labels (their rendered boxes may differ from the measured by a fraction)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    g = _GAP_PX
    return a[0] < b[2] + g and b[0] < a[2] + g and a[1] < b[3] + g and b[1] < a[3] + g
