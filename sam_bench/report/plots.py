"""The report's plots, each drawn from the run records alone (`draw` lists them)."""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.eps import parse_eps
from sam_bench.figure_labels import pyplot
from sam_bench.report import plot_limits
from sam_bench.report.claims import sam_gain
from sam_bench.report.records import (
    aa_budgets,
    accuracy,
    accuracy_with_interval,
    by_architecture,
    models,
    pgd_budgets,
    seconds_per_epoch,
)
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference
from sam_bench.threat_models import norm_names
from sam_bench.training import method_table


def _over_seeds(group: list[RunRecord], *measure, **select) -> tuple[float | None, float]:
    """Mean of a model's accuracy and the half-width of its 95% interval (its wider side), for error bars."""
    found = accuracy_with_interval(group, *measure, **select)
    if found is None:
        return None, 0.0
    mean, low, high = found
    return mean, max(mean - low, high - mean)


def save(plt, fig, out: Path, name: str) -> str:
    """Write a finished figure atomically as out/name and free it; returns the name."""
    fig.tight_layout()
    files.write_figure(out / name, fig, dpi=110)
    plt.close(fig)
    return name


def draw(out: Path, records: list[RunRecord], cost: dict | None) -> list[str]:
    """Draw every plot the records allow into `out`; the names of those written."""
    plt = pyplot()
    drawn = [
        _robust_vs_eps(plt, out, records),
        _tradeoff(plt, out, records),
        _sam_gain(plt, out, records),
        _cost(plt, out, records, cost),
    ]
    return [name for name in drawn if name is not None]


def _robust_vs_eps(plt, out: Path, records: list[RunRecord]) -> str | None:
    """PGD-10 accuracy against eps, one panel per norm, each model's mean with its 95% interval."""
    budgets = pgd_budgets(records)
    norms = [n for n in norm_names() if any(b[0] == n for b in budgets)]
    if not norms:
        return None
    fig, axes = plt.subplots(1, len(norms), figsize=(5.5 * len(norms), 4), squeeze=False)
    for ax, norm in zip(axes[0], norms):
        eps = [e for n, e in budgets if n == norm]
        for (name, group), style in zip(models(records).items(), _styles(records)):
            points = [(0.0, *_over_seeds(group, "clean"))]
            points += [(255 * parse_eps(e), *_over_seeds(group, "pgd", norm, e)) for e in eps]
            points = [(x, 100 * m, 100 * half) for x, m, half in points if m is not None]
            xs, ys, errs = zip(*points)
            seeds = f" ({len(group)} seeds)" if len(group) > 1 else ""
            ax.errorbar(xs, ys, yerr=errs, capsize=3, label=name + seeds, **style)
        ax.set_xlabel(f"{norm} eps (x/255)")
        ax.set_ylabel("PGD-10 accuracy (%, 95% interval)")
        ax.set_title(f"Robust accuracy against {norm} eps")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    return save(plt, fig, out, "robust_vs_eps.png")


def _styles(records: list[RunRecord]) -> list[dict]:
    """Each model's line style, in the order of `models(records)`: its method's colour, its own marker and line."""
    markers, lines = ("o", "s", "^", "D", "v", "P"), ("-", "--", ":", "-.")
    seen: dict[str, int] = {}
    styles = []
    for group in models(records).values():
        method = group[0].method
        i = seen[method] = seen.get(method, -1) + 1
        styles.append({"color": method_table.colour(method), "marker": markers[i % 6], "linestyle": lines[i % 4]})
    return styles


def _tradeoff(plt, out: Path, records: list[RunRecord]) -> str | None:
    """Each model's clean against robust accuracy (AutoAttack's first budget, else PGD-10 Linf 8/255) with their 95%
    intervals, on axes fitted to them (report.plot_limits): robust accuracies of a few percent stay readable."""
    target, select = next(((("autoattack", n, e), s) for n, e, s in aa_budgets(records)), (None, {}))
    if target is None:
        target = next(((("pgd",) + b) for b in pgd_budgets(records) if b == ("Linf", "8/255")), None)
    if not target:
        return None
    fig, ax = plt.subplots(figsize=(5.8, 4.6))
    shown: list[tuple[float, float, float, float]] = []  # x, dx, y, dy in %, for the axes' limits
    for (name, group), style in zip(models(records).items(), _styles(records)):
        with_it = [r for r in group if accuracy(r, *target, **select) is not None]
        if not with_it:
            continue
        (x, dx), (y, dy) = _over_seeds(with_it, "clean"), _over_seeds(with_it, *target, **select)
        if x is None or y is None:
            continue
        seeds = f" ({len(with_it)} seeds)" if len(with_it) > 1 else ""
        shown.append((100 * x, 100 * dx, 100 * y, 100 * dy))
        ax.errorbar(
            100 * x,
            100 * y,
            xerr=100 * dx,
            yerr=100 * dy,
            color=style["color"],
            marker=style["marker"],
            linestyle="none",
            capsize=3,
            label=name + seeds,
        )
    label = "AutoAttack" if target[0] == "autoattack" else "PGD-10"
    ax.set_xlabel("clean accuracy (%, 95% interval)")
    ax.set_ylabel(f"{label} {target[1]} {target[2]} accuracy (%, 95% interval)")
    ax.set_xlim(*plot_limits.fitted([x - dx for x, dx, _, _ in shown], [x + dx for x, dx, _, _ in shown]))
    ax.set_ylim(*plot_limits.fitted([y - dy for _, _, y, dy in shown], [y + dy for _, _, y, dy in shown]))
    ax.set_title("Clean vs robust accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")  # fitted axes leave no corner sure to be empty
    return save(plt, fig, out, "tradeoff.png")


def _sam_gain(plt, out: Path, records: list[RunRecord]) -> str | None:
    """SAM minus ST at PGD-10 Linf 1/255 and 2/255, one pair of bars per architecture (several only)."""
    architectures = by_architecture(records)
    if len(architectures) < 2:
        return None
    gains = {
        budget: [sam_gain(subset, *budget) for subset in architectures.values()]
        for budget in (("Linf", "1/255"), ("Linf", "2/255"))
    }
    if not any(g is not None for values in gains.values() for g in values):
        return None
    fig, ax = plt.subplots(figsize=(1.6 * len(architectures) + 3, 4))
    for i, (budget, values) in enumerate(gains.items()):
        positions = [j + (i - 0.5) * 0.35 for j in range(len(architectures))]
        bars = [(x, *g.interval()) for x, g in zip(positions, values) if g is not None]
        ax.bar(
            [x for x, _, _, _ in bars],
            [100 * difference for _, difference, _, _ in bars],
            width=0.35,
            yerr=[
                [100 * (difference - low) for _, difference, low, _ in bars],
                [100 * (high - difference) for _, difference, _, high in bars],
            ],
            capsize=3,
            label=f"PGD {budget[0]} {budget[1]}",
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(architectures)), [a.split(" (")[0] for a in architectures], rotation=20)
    ax.set_ylabel("SAM − ST robust accuracy (points, 95% CI)")
    ax.set_title("SAM's gain over ST across architectures")
    ax.legend(fontsize=8)
    return save(plt, fig, out, "sam_gain.png")


def _cost(plt, out: Path, records: list[RunRecord], cost: dict | None) -> str | None:
    """The cost per step over ST's as C4 measures it (`cost.json`), or else the training logs', labelled as such."""
    measured = [m for m in (cost or {}).get("models", []) if m.get("ratio")]
    if measured:  # the measurement C4 rests on: cost per step over ST's, interleaved in one process
        fig, ax = plt.subplots(figsize=(1.1 * len(measured) + 2.5, 3.8))
        ratios = [m["ratio"] for m in measured]
        medians = [r["median"] for r in ratios]
        low = [r["median"] - (r["low"] if r["low"] is not None else r["median"]) for r in ratios]
        high = [(r["high"] if r["high"] is not None else r["median"]) - r["median"] for r in ratios]
        colours = [method_table.colour(m.get("method", "")) for m in measured]
        ax.bar([m["name"] for m in measured], medians, color=colours, capsize=3, yerr=[low, high])
        ax.scatter(
            [m["name"] for m in measured],
            [m["passes_per_step"] / m["baseline_passes_per_step"] for m in measured],
            marker="_",
            s=400,
            color="black",
            zorder=3,
            label="expected (passes per step)",
        )
        ax.set_ylabel("seconds per step over ST's (median, 95% CI)")
        ax.set_title("Training cost (interleaved timing)")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=8)
        return save(plt, fig, out, "cost.png")
    timed = [(name, [t for t in (seconds_per_epoch(r) for r in group) if t]) for name, group in models(records).items()]
    timed = [(name, times) for name, times in timed if times]
    if not timed:
        return None
    fig, ax = plt.subplots(figsize=(1.1 * len(timed) + 2.5, 3.8))
    ax.bar(
        [n for n, _ in timed],
        [inference.mean_sd(t)[0] for _, t in timed],
        color="tab:gray",
        yerr=[inference.mean_sd(t)[1] or 0 for _, t in timed],
        capsize=3,
    )
    ax.set_ylabel("seconds per epoch (training logs)")
    ax.set_title("Training wall time (not a cost measurement)")
    ax.tick_params(axis="x", rotation=30)
    return save(plt, fig, out, "cost.png")
