"""The README's front figure (docs/reproducing.md, "Which figures a cell shows"): each effect a findings cell shows,
with its 95% interval, beside the levels it is the difference of: how large it is, and of what.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sam_bench import files
from sam_bench.figure_labels import pyplot
from sam_bench.report import claim_effects
from sam_bench.report.folder import Folder
from sam_bench.report.records import models
from sam_bench.training import method_table

NAME = "effects.png"
PANELS = {
    "SAM − ST: clean accuracy (C1) and the small budgets (C2)": ("C1", "C2"),
    "C3: AT − SAM at AT's own budget; SAM − AT clean": ("C3",),
}


@dataclass(frozen=True)
class Level:
    """One model's accuracy on the measure of an effect, mean over the seeds the effect pairs (percent)."""

    model: str  # 'ST', 'SAM-0.1', 'AT-Linf-8'
    method: str  # its method's name in the method table: its colour and label on the plot
    accuracy: float


@dataclass(frozen=True)
class Point:
    """One effect on the plot, in accuracy points, with its levels."""

    scale: str
    claim: str
    versus: str  # 'SAM-0.1 − ST'
    measure: str  # 'clean', 'PGD Linf 2/255', 'AA Linf 2/255 (APGD-CE + APGD-T)'
    difference: float
    low: float
    high: float
    seeds: int
    primary: bool  # a primary test fixed before its seeds trained
    levels: tuple[Level, ...] = ()  # the second model, the first (the effect is first − second), the AT model beside
    masking: bool = False  # its check for gradient masking is flagged


def points(loaded: list[Folder]) -> list[Point]:
    """Every effect the findings' cells show, the largest scale first, each with its levels."""
    found = []
    for folder in loaded:
        methods = {name: group[0].method for name, group in models(folder.records).items()}
        for claim in ("C1", "C2", "C3"):
            shown = claim_effects.shown(folder, claim)
            for effect in shown.effects:
                c = effect.comparison
                difference, low, high = c.interval()
                assert c.first_level is not None and c.second_level is not None, "a shown effect is tested"
                levels = [(c.second, c.second_level), (c.first, c.first_level)]
                if effect.beside is not None:
                    levels.append(effect.beside)
                found.append(
                    Point(
                        folder.plan["scale"],
                        claim,
                        f"{c.first} − {c.second}",
                        claim_effects.short_label(c.measure),
                        100 * difference,
                        100 * low,
                        100 * high,
                        c.seeds,
                        shown.primary,
                        tuple(Level(name, methods.get(name, ""), 100 * level) for name, level in levels),
                        effect.check is not None and effect.check.flagged,
                    )
                )
    return found


def draw(found: list[Point], out: Path) -> Path | None:
    """Draw these effects and their levels into `out` (a .png); None where there is none."""
    if not found:
        return None
    plt = pyplot()
    rows = {title: [p for p in found if p.claim in claims] for title, claims in PANELS.items()}
    rows = {title: shown for title, shown in rows.items() if shown}
    height = 2.2 + 0.32 * sum(len(r) + 2.5 for r in rows.values())
    fig = plt.figure(figsize=(15, height))
    grid = fig.add_gridspec(
        len(rows), 2, width_ratios=[1, 1.2], height_ratios=[len(r) + 1 for r in rows.values()], wspace=0.06
    )
    for i, (title, shown) in enumerate(rows.items()):
        levels_ax = fig.add_subplot(grid[i, 0])
        effects_ax = fig.add_subplot(grid[i, 1], sharey=levels_ax)
        _levels(levels_ax, shown)
        _effects(effects_ax, shown)
        levels_ax.set_title("levels: each model's accuracy", fontsize=10)
        effects_ax.set_title(title, fontsize=10)
    methods = list(dict.fromkeys(level.method for p in found for level in p.levels))

    def handle(label: str, color: str = "black", marker: str = "o", **style):
        return plt.Line2D([], [], marker=marker, linestyle="", color=color, label=label, **style)

    handles = [
        handle("primary test (fixed first)", marker="*", markersize=12),
        handle("two seeds or more (seeds and images)"),
        handle("one seed (images only)", markerfacecolor="white"),
        *[handle(f"level: {method_table.label(m)}", method_table.colour(m)) for m in methods],
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        "CIFAR-10: SAM (rho 0.1) against ST, AT against SAM. Left, the accuracies; right, their difference "
        "in accuracy points with its 95% interval",
        fontsize=11,
    )
    fig.subplots_adjust(left=0.27, right=0.78, top=1 - 1.0 / height, bottom=1.4 / height, hspace=0.7 / len(rows))
    files.write_figure(out, fig, dpi=110)
    plt.close(fig)
    return out


def _label(p: Point) -> str:
    seeds = f"{p.seeds} seed{'s' if p.seeds != 1 else ''}"
    versus = f" ({p.versus})" if p.claim == "C3" else ""
    return f"{p.scale} · {p.measure}{versus} · {seeds}"


def _scale_lines(ax, shown: list[Point]) -> None:
    """A thin line between the rows of one scale and the next."""
    for y in range(1, len(shown)):
        if shown[y].scale != shown[y - 1].scale:
            ax.axhline(y - 0.5, color="grey", linewidth=0.6, alpha=0.6)


def _levels(ax, shown: list[Point]) -> None:
    """Each row's models at their accuracies on one 0-100% axis, the effect's span a grey line between them."""
    for y, p in enumerate(shown):
        pair = [level.accuracy for level in p.levels[:2]]
        ax.plot(pair, [y, y], color="grey", linewidth=1, zorder=1)
        for level in p.levels:
            ax.scatter(level.accuracy, y, color=method_table.colour(level.method), s=28, zorder=3, edgecolors="black")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([_label(p) for p in shown], fontsize=8)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_xlim(-2, 102)
    ax.set_xlabel("accuracy (%), mean over the seeds paired")
    ax.grid(axis="x", alpha=0.3)
    _scale_lines(ax, shown)


def _effects(ax, shown: list[Point]) -> None:
    """Each row's effect with its interval, and its levels in numbers at the right."""
    colour = "#333333"
    for y, p in enumerate(shown):
        ax.errorbar(
            p.difference,
            y,
            xerr=[[p.difference - p.low], [p.high - p.difference]],
            color=colour,
            marker="*" if p.primary else "o",
            markersize=12 if p.primary else 6,
            markerfacecolor="white" if p.seeds < 2 else colour,
            capsize=3,
            linestyle="",
        )
        second, first, *beside = p.levels
        text = f"{second.model} {second.accuracy:.2f}% → {first.model} {first.accuracy:.2f}%"
        text += "".join(f" · {b.model} {b.accuracy:.2f}%" for b in beside) + (" ⚠ masking" if p.masking else "")
        ax.annotate(text, (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=7.5)
    ax.axvline(0.0, color="black", linewidth=1)
    _scale_lines(ax, shown)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.set_xlabel("effect (accuracy points; 0: no difference)")
    ax.grid(axis="x", alpha=0.3)
