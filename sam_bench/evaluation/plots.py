"""Robust accuracy against eps, one line per model and attack (the SAM-AT paper's picture)."""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation.results_record import Results


def robustness_curves(results: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{norm: {label: [(eps, robust_acc), ...] sorted by eps}} from results records; eps 0 takes the clean accuracy
    where it was not evaluated (at eps 0 nothing can be perturbed: `evaluate` checks it)."""
    from sam_bench.evaluation.model_ref import model_name

    attacks = {e.attack for r in results for e in Results.of(r).evaluations if e.norm}
    curves: dict[str, dict[str, dict[float, float]]] = {}  # norm -> label -> eps -> accuracy
    for r in results:
        name = model_name(r["model"]["ref"] or r["model"]["weights_sha256"][:12])
        for e in Results.of(r).evaluations:
            if e.norm is None or e.eps_value is None:
                continue
            label = name if len(attacks) == 1 else f"{name} ({e.attack})"
            points = curves.setdefault(e.norm, {}).setdefault(label, {})
            points[e.eps_value] = e.robust_acc
            if e.clean_acc is not None:
                points.setdefault(0.0, e.clean_acc)
    return {
        norm: {label: sorted(points.items()) for label, points in by_label.items()} for norm, by_label in curves.items()
    }


def plot_robustness(results: list[dict], path: str | Path) -> Path:
    """Write the plot (format from the file suffix: png, pdf, svg); one panel per norm."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    path = Path(path)
    curves = robustness_curves(results)
    if not curves:
        raise BadInput("nothing to plot: the results hold no PGD or AutoAttack evaluation")
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in plt.gcf().canvas.get_supported_filetypes():
        plt.close("all")
        raise BadInput(f"--plot {path}: unknown image format {fmt!r}; use .png, .pdf or .svg")
    plt.close("all")
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (norm, by_label) in zip(axes[0], sorted(curves.items())):
        eps_seen: set[float] = set()
        for label, points in by_label.items():
            xs, ys = zip(*points)
            eps_seen.update(xs)
            ax.plot(xs, [100 * y for y in ys], marker="o", label=label)
        ticks = sorted(eps_seen)
        ax.set_xticks(ticks, [format_eps(t) for t in ticks], rotation=45 if len(ticks) > 6 else 0)
        ax.set_xlabel(f"{norm} eps")
        ax.set_ylabel("robust accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    datasets = sorted({r["dataset"]["name"] for r in results})
    fig.suptitle(f"Robust accuracy on {', '.join(datasets)}")
    fig.tight_layout()
    files.write_figure(path, fig, fmt, dpi=150)
    plt.close(fig)
    return path
