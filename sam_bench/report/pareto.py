"""Accuracy against training cost: is SAM the best cheap defence? (the report's Pareto section; docs/reproducing.md,
"Is SAM the best cheap defence?")."""

from __future__ import annotations

import statistics
from pathlib import Path

from sam_bench import figure_labels, files
from sam_bench.evaluation import attack_table
from sam_bench.figure_labels import pyplot
from sam_bench.report import collapse
from sam_bench.report.comparison import Comparison, compare, judge, percent, table_head
from sam_bench.report.records import accuracy, accuracy_with_interval, first_seed, models
from sam_bench.report.run_record import RunRecord
from sam_bench.threat_models import LINF
from sam_bench.training import method_table as table

PLOT = "pareto.png"


def applies(records: list[RunRecord]) -> bool:
    """For grids with single-step AT, TRADES or AWP models (their passes per step beside SAM's and AT's)."""
    return any(table.single_step(m) or table.uses_trades(m) or table.uses_awp(m) for m in (r.method for r in records))


def measures(records: list[RunRecord]) -> list[tuple]:
    """The robust budgets to judge: PGD at every Linf eps, then AutoAttack at each of its budgets."""
    seen: dict[tuple, float] = {}
    for r in records:
        for ev in r.results.evaluations:
            if ev.norm == LINF and attack_table.in_threat_model(ev.attack) and ev.eps_value is not None:
                seen[(ev.attack, ev.norm, ev.eps)] = ev.eps_value
    return sorted(seen, key=lambda k: (k[0] != "pgd", seen[k]))


def label(measure: tuple) -> str:
    return "clean" if measure[0] == "clean" else f"{'PGD-10' if measure[0] == 'pgd' else 'AutoAttack'} {measure[2]}"


def mean_accuracy(group: list[RunRecord], *measure) -> float | None:
    """A model's mean accuracy over its seeds that have the measure and did not collapse (`collapse`)."""
    values = [a for a in (accuracy(r, *measure) for r in collapse.healthy(group)) if a is not None]
    return statistics.fmean(values) if values else None


def passes(group: list[RunRecord]) -> int:
    """Forward-backward passes per step of a model: as its training recorded them, else the method table's."""
    r = group[0]
    return r.training.passes_per_step or table.passes_per_step(r.method, r.config.attack_steps)


def measured_ratio(group: list[RunRecord], cost: dict | None) -> float | None:
    """The model's measured seconds per step over ST's (cost.json, for this grid's settings), or None."""
    first = first_seed(group)
    for m in (cost or {}).get("models", []):
        if m["name"] == first.name and m.get("key") == first.key:
            return m["ratio"]["median"] if m.get("ratio") else 1.0
    return None


def frontier(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points (cost, accuracy, name) that no other point beats: none costs at most as much with
    at least as high an accuracy (and is better in one of the two). In order of cost."""
    best: list[tuple[float, float, str]] = []
    for c, a, n in sorted(points, key=lambda p: (p[0], -p[1])):
        if not best or a > best[-1][1]:
            best.append((c, a, n))
    return best


def equal_cost_verdicts(records: list[RunRecord]) -> list[dict]:
    """Per robust budget: the best two-pass defence (not ST) by mean accuracy, tested against each other one
    (`ahead_of`: significantly; `not_separated_from`: the rest), and its clean cost against ST."""
    grouped = models(records)
    st = next((g for g in grouped.values() if g[0].method == table.STANDARD), None)
    rivals = {n: g for n, g in grouped.items() if g[0].method != table.STANDARD and passes(g) == 2}
    out = []
    for measure in measures(records):
        means = {n: mean_accuracy(g, *measure) for n, g in rivals.items()}
        ranked = sorted((n for n in means if means[n] is not None), key=lambda n: -(means[n] or 0.0))
        if len(ranked) < 2:
            continue
        best = ranked[0]
        comparisons = [compare(*measured(rivals[best], rivals[other], measure), measure) for other in ranked[1:]]
        found: list[Comparison] = [c for c in comparisons if c is not None]
        verdict, reason = judge(found)
        # like with like: where the measure exists on first seeds only (AutoAttack), the clean cost is taken on
        # the same seeds, and the row is about those trained models, not their methods
        one_seed = bool(found) and not any(c.method_level for c in found)
        best_runs, st_runs = (rivals[best][:1], (st or [])[:1]) if one_seed else (rivals[best], st)
        clean = compare(best_runs, st_runs, ("clean",)) if st_runs else None
        # who the best is significantly ahead of (over seeds and images), and who it is not separated from:
        # a tie at the top still answers whether a third defence (SAM, say) is beaten
        ahead = [c.second for c in found if c.left_out is None and c.significant]
        out.append(
            {
                "measure": label(measure),
                "best": best,
                "accuracy": means[best],
                "verdict": {"holds": "wins", "fails": "beaten", "inconclusive": "not separated"}[verdict],
                "reason": reason,
                "ahead_of": ahead,
                "not_separated_from": [c.second for c in found if c.second not in ahead],
                "evidence": [c.describe() for c in found],
                "clean_cost": clean,
                "first_seeds_only": one_seed,
            }
        )
    return out


def measured(
    first: list[RunRecord], second: list[RunRecord], measure: tuple
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The two models' seeds that have the measure (AutoAttack runs on first seeds only: comparing the
    seeds in common would find one without it, and the comparison would be dropped)."""
    first, second = ([r for r in g if accuracy(r, *measure) is not None] for g in (first, second))
    return first, second


def plot(out: Path, records: list[RunRecord], cost: dict | None) -> str | None:
    """pareto.png: per budget, robust accuracy against clean accuracy and against cost, with the Pareto frontier."""
    plt = pyplot()
    grouped = models(records)
    budgets = measures(records)
    if not budgets:
        return None
    ratios = {n: measured_ratio(g, cost) for n, g in grouped.items()}
    axes_x = [("clean", "clean accuracy (%)"), ("passes", "forward-backward passes per step")]
    if all(v is not None for v in ratios.values()):
        axes_x.append(("ratio", "seconds per step over ST's (measured, cost.json)"))
    fig, axes = plt.subplots(len(axes_x), len(budgets), figsize=(4.2 * len(budgets), 3.6 * len(axes_x)), squeeze=False)
    colors = {n: table.colour(g[0].method) for n, g in grouped.items()}  # one palette
    labelled = []  # each panel's points, named once the layout is final (clear of one another)
    for j, measure in enumerate(budgets):
        for i, (kind, xlabel) in enumerate(axes_x):
            ax = axes[i][j]
            points = []
            for name, group in grouped.items():
                y = mean_accuracy(group, *measure)
                if y is None:
                    continue
                x = {"clean": mean_accuracy(group, "clean"), "passes": passes(group), "ratio": ratios[name]}[kind]
                x = 100 * x if kind == "clean" and x is not None else x
                if x is None:
                    continue
                points.append((x, 100 * y, name))
                ax.scatter(x, 100 * y, color=colors[name], s=36, zorder=3)
                # the 95% intervals of what is plotted (over seeds and images; Wilson's for one seed)
                shown = [r for r in collapse.healthy(group) if accuracy(r, *measure) is not None]
                ys = accuracy_with_interval(shown, *measure)
                xs = accuracy_with_interval(shown, "clean") if kind == "clean" else None
                if ys is not None:
                    ax.errorbar(
                        x,
                        100 * y,
                        yerr=[[100 * (y - ys[1])], [100 * (ys[2] - y)]],
                        xerr=None if xs is None else [[x - 100 * xs[1]], [100 * xs[2] - x]],
                        color=colors[name],
                        linewidth=0.8,
                        capsize=2,
                        zorder=2,
                    )
            labelled.append((ax, points))
            # the clean axis: higher is better, so the frontier runs from the right
            flipped = [(-x, y, n) for x, y, n in points] if kind == "clean" else points
            edge = [(-x if kind == "clean" else x, y, n) for x, y, n in frontier(flipped)]
            if edge:  # its models ringed, joined by the frontier's staircase
                xs, ys, _ = zip(*edge)
                ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="black", label="on the Pareto frontier")
                ax.step(xs, ys, where="pre" if kind == "clean" else "post", color="black", linewidth=1, alpha=0.5)
            if kind != "clean":
                ax.set_xscale("log", base=2)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(f"{label(measure)} accuracy (%)", fontsize=8)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"{label(measure)} (Linf)", fontsize=9)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    for ax, points in labelled:
        figure_labels.place(ax, [x for x, _, _ in points], [y for _, y, _ in points], [n for _, _, n in points], 7)
    files.write_figure(out / PLOT, fig, dpi=100)
    plt.close(fig)
    return PLOT


def section(out: Path, records: list[RunRecord], cost: dict | None) -> list[str]:
    """The report's Pareto section, with its plot."""
    grouped = models(records)
    budgets = measures(records)
    lines = [
        "## Accuracy against training cost (Pareto)",
        "",
        "Is SAM the best cheap defence? Each model's mean accuracy over its seeds that did not collapse "
        "(a measure taken on fewer of them, AutoAttack on the first seed, says which: compare it with "
        "first seeds only) against its training cost: forward-backward passes per step"
        + (", and the seconds per step over ST's measured by `sam-bench cost` (`cost.json`)" if cost else "")
        + ". On the frontier: no other model is at least as accurate at that budget for at most the cost.",
        "",
        *table_head("model", "method", "passes per step", "x ST (measured)", "clean", *map(label, budgets)),
    ]
    for name, group in grouped.items():
        ratio = measured_ratio(group, cost)
        cells = [
            name,
            table.label(group[0].method),  # as every page names it
            str(passes(group)),
            "–" if ratio is None else f"{ratio:.2f}",
            percent(mean_accuracy(group, "clean")),
        ]
        cells += [_seeds_cell(group, m) for m in budgets]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Pareto frontier by passes per step (cheapest first):", ""]
    for measure in budgets:
        points = [(float(passes(g)), a, n) for n, g in grouped.items() if (a := mean_accuracy(g, *measure)) is not None]
        lines.append(
            f"- {label(measure)}: "
            + " → ".join(f"{n} ({c:g} pass{'' if c == 1 else 'es'}, {percent(a)})" for c, a, n in frontier(points))
        )
    lines += [
        "",
        "### Verdicts at equal cost (two passes per step)",
        "",
        "Per budget, the two-pass defence with the highest mean accuracy against each of the others "
        "(`sam_bench/report/claims.py`'s tests; `wins`: every comparison significant, one-sided p < 0.05, an "
        "intersection-union test); the defences it is significantly ahead of (one-sided p < 0.05 over training seeds "
        "and test images: one seed in common tests no method) and those it is not separated from; and its clean "
        "cost: its clean accuracy minus ST's, in points with its 95% interval.",
        "",
        "| budget | best two-pass defence | accuracy | verdict | significantly ahead of | not separated from | why | "
        "clean cost vs ST | comparisons |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in equal_cost_verdicts(records):
        clean = v["clean_cost"]
        clean_text = "–" if clean is None or clean.difference is None else clean.points()
        lines.append(
            f"| {v['measure']} | {v['best']} | {percent(v['accuracy'])} | **{v['verdict']}** | "
            f"{', '.join(v['ahead_of']) or '–'} | {', '.join(v['not_separated_from']) or '–'} | {v['reason']} | "
            f"{clean_text} | {'<br>'.join(v['evidence']) or '–'} |"
        )
    picture = plot(out, records, cost)
    if picture:
        lines += ["", f"![Accuracy against training cost]({picture})"]
    return lines + [""]


def _seeds_cell(group: list[RunRecord], measure: tuple) -> str:
    """The mean accuracy, marked with its seeds where it rests on fewer runs than the model has (like with
    like: a first seed's AutoAttack is not set against a mean over seeds unmarked)."""
    runs = collapse.healthy(group)
    having = [r for r in runs if accuracy(r, *measure) is not None]
    text = percent(mean_accuracy(group, *measure))
    if having and len(having) < len(runs):
        text += f" (seed {', '.join(str(r.seed) for r in having)})"
    return text
