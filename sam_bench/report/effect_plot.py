"""The README's front figure: SAM's effect (SAM − ST) and AT's (AT − SAM, C3) in accuracy points with their 95%
intervals, per measure and per scale, where a reader sees at once how large each effect is and whether its interval
leaves zero.

Its points are the comparisons `claim_effects.drawn` gives each claim at each scale of the paper's grid: a decided
primary test's (marked), then the claim's every budget over every seed (clean accuracy for C1; C2's four small
budgets, AutoAttack wherever every seed of both models has it and PGD-10; C3 the AT model's own budget). An
interval is over training seeds and test images with two seeds or more; with one seed it is over the test images
only (a hollow marker: two trained models, not yet two methods).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sam_bench import files
from sam_bench.report import claim_effects
from sam_bench.report.folder import Folder

NAME = "effects.png"
PANELS = {
    "SAM − ST: clean accuracy (C1) and the small budgets (C2)": ("C1", "C2"),
    "AT − SAM at the AT model's own budget (C3)": ("C3",),
}


@dataclass(frozen=True)
class Point:
    """One effect on the plot, in accuracy points."""

    scale: str
    claim: str
    versus: str  # 'SAM-0.1 − ST'
    measure: str  # 'clean', 'PGD Linf 2/255', 'AA Linf 2/255 (APGD-CE + APGD-T)'
    difference: float
    low: float
    high: float
    seeds: int
    primary: bool  # a primary test fixed before its seeds trained


def points(loaded: list[Folder]) -> list[Point]:
    """Every effect the figure draws, the largest scale first: C1's and C2's SAM − ST, C3's AT − SAM on the AT
    model's own budget (its clean comparison, the other way round, is left to the table)."""
    found = []
    for folder in loaded:
        for claim in ("C1", "C2", "C3"):
            for effect, primary in claim_effects.drawn(folder, claim):
                c = effect.comparison
                if claim == "C3" and effect.measure == ("clean",):
                    continue
                difference, low, high = c.interval()
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
                        primary,
                    )
                )
    return found


def draw(found: list[Point], out: Path) -> Path | None:
    """Draw these effects into `out` (a .png); None where there is none."""
    if not found:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = list(dict.fromkeys(p.scale for p in found))
    colours = {scale: plt.get_cmap("tab10")(i) for i, scale in enumerate(scales)}
    rows = {title: [p for p in found if p.claim in claims] for title, claims in PANELS.items()}
    rows = {title: shown for title, shown in rows.items() if shown}
    height = 1.8 + 0.3 * sum(len(r) + 2 for r in rows.values())
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(11, height), squeeze=False, height_ratios=[len(r) + 1 for r in rows.values()]
    )
    for ax, (title, shown) in zip(axes[:, 0], rows.items()):
        _panel(ax, title, shown, colours)
    handles = [
        plt.Line2D(
            [],
            [],
            marker="*",
            linestyle="",
            color="black",
            markersize=12,
            label="primary test (fixed before its seeds)",
        ),
        plt.Line2D([], [], marker="o", linestyle="", color="black", label="every seed, two or more (seeds and images)"),
        plt.Line2D(
            [], [], marker="o", linestyle="", color="black", markerfacecolor="white", label="one seed (images only)"
        ),
        *[plt.Line2D([], [], color=colours[s], linewidth=3, label=f"scale {s}") for s in scales],
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        "Effects in accuracy points with 95% intervals, CIFAR-10: SAM (rho 0.1) against ST, AT against SAM", fontsize=11
    )
    fig.subplots_adjust(left=0.4, right=0.97, top=1 - 1.0 / height, bottom=1.3 / height, hspace=0.9 / len(rows))
    files.write_figure(out, fig, dpi=110)
    plt.close(fig)
    return out


def _panel(ax, title: str, shown: list[Point], colours: dict) -> None:
    labels = []
    for y, p in enumerate(shown):
        colour = colours[p.scale]
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
        seeds = f"{p.seeds} seed{'s' if p.seeds != 1 else ''}"
        labels.append(f"{p.scale} · {p.measure} · {seeds}")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.set_xlabel("effect (accuracy points; 0: no difference)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
