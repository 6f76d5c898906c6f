"""A reproduction report's figure of the levels behind the README's effects (`small_budgets.png`): robust accuracy
at the claims' small budgets, ST against SAM against AT (at RobustBench's Linf 8/255 ST and SAM show nothing: 0%).
"""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.eps import parse_eps
from sam_bench.figure_labels import pyplot
from sam_bench.recipes.plan_entry import plan_entries
from sam_bench.report.claim_effects import HEADLINE_SAM
from sam_bench.report.claims import C2_BUDGETS, claimed
from sam_bench.report.folder import Folder
from sam_bench.report.records import accuracy_with_interval, models
from sam_bench.report.run_record import RunRecord
from sam_bench.training import method_table

NAME = "small_budgets.png"


def chosen(folder: Folder) -> list[list[RunRecord]] | None:
    """ST, SAM-0.1 and the AT model with most seeds (each over its seeds) with PGD-10 at C2's budgets, or None."""
    grouped = models(folder.records)
    st, _, ats = claimed(grouped)
    sam = grouped.get(HEADLINE_SAM)
    ats = [g for g in ats if _has_pgd(g)]
    if st and sam and ats and _has_pgd(st) and _has_pgd(sam):
        at = max(ats, key=lambda g: (len(g), parse_eps(g[0].config.attack_eps)))  # most seeds, largest eps
        return [st, sam, at]
    return None


def _has_pgd(group: list[RunRecord]) -> bool:
    return all(group[0].evaluation("pgd", norm, eps) is not None for norm, eps in C2_BUDGETS)


def _point(group: list[RunRecord], *measure, **select) -> tuple[float, float, float] | None:
    """(mean, low, high) in %: over seeds and images with two seeds or more, else Wilson's over the images."""
    found = accuracy_with_interval(group, *measure, **select)
    return None if found is None else (100 * found[0], 100 * found[1], 100 * found[2])


def draw(folder: Folder, out: Path) -> Path | None:
    """Draw the folder's figure into `out` (a .png); None where the folder lacks a model it needs."""
    groups = chosen(folder)
    if groups is None:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True)
    for ax, norm in zip(axes, ("Linf", "L2")):
        budgets = [eps for n, eps in C2_BUDGETS if n == norm]
        for group in groups:
            colour = method_table.colour(group[0].method)
            seeds = f", {len(group)} seeds" if len(group) > 1 else ""
            clean = _point(group, "clean")
            pgd = [clean] + [_point(group, "pgd", norm, eps) for eps in budgets]
            xs = [0.0] + [255 * parse_eps(eps) for eps in budgets]
            _line(ax, xs, pgd, colour, "-", "o", f"{group[0].name}: PGD-10{seeds}")
            aa = [_point(group[:1], "autoattack", norm, eps, version="standard") for eps in budgets]
            if any(p is not None for p in aa):
                first = _point(group[:1], "clean")
                _line(ax, xs, [first, *aa], colour, "--", "s", f"{group[0].name}: AutoAttack, first seed")
        ax.set_xticks([0.0] + [255 * parse_eps(eps) for eps in budgets])
        ax.set_xlabel(f"{norm} budget (x/255; 0: clean accuracy)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.set_title(f"{norm}")
    axes[0].set_ylabel("accuracy (%, 95% interval)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    config = plan_entries(folder.plan)[0].config
    share = config.get("width", 1.0)
    width = "full width" if share == 1.0 else f"1/{round(1 / share)} width"
    fig.suptitle(
        f"Robust accuracy at small budgets: ST, SAM (rho 0.1) and AT, scale {folder.plan['scale']} "
        f"(PreActResNet-18 at {width}, {config['epochs']} epochs, CIFAR-10)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    files.write_figure(out, fig, dpi=110)
    plt.close(fig)
    return out


def _line(ax, xs: list[float], points: list, colour: str, linestyle: str, marker: str, label: str) -> None:
    shown = [(x, p) for x, p in zip(xs, points) if p is not None]
    if not shown:
        return
    ax.errorbar(
        [x for x, _ in shown],
        [p[0] for _, p in shown],
        yerr=[[p[0] - p[1] for _, p in shown], [p[2] - p[0] for _, p in shown]],
        color=colour,
        linestyle=linestyle,
        marker=marker,
        capsize=3,
        label=label,
    )
