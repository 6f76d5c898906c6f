"""The Mechanism section's plots (`report.mechanism`): robust accuracy against sharpness, and the Fourier heat
maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sam_bench import files
from sam_bench.figure_labels import pyplot
from sam_bench.report.plots import save
from sam_bench.report.records import accuracy, accuracy_with_interval, architecture
from sam_bench.report.run_record import RunRecord
from sam_bench.training import method_table as table

SHARPNESS_PLOT = "mechanism_sharpness.png"
FOURIER_PLOT = "mechanism_fourier.png"


def sharpness(out: Path, pairs: list[tuple[RunRecord, dict]], target: tuple) -> str | None:
    """Robust accuracy at `target` against the top Hessian eigenvalue, one point per analysed model (95% intervals)."""
    plt = pyplot()
    points = [(r, a) for r, a in pairs if "sharpness" in a and accuracy(r, *target) is not None]
    if not points:
        return None
    markers = ["o", "s", "^", "D", "v", "P"]
    archs = list(dict.fromkeys(architecture(r) for r, _ in points))
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    for r, a in points:
        s = a["sharpness"]["summary"]["top_eigenvalue"]
        found = accuracy_with_interval([r], *target)
        assert found is not None
        y, low, high = found
        ax.errorbar(
            s["mean"],
            100 * y,
            xerr=[
                [s["mean"] - (s["low"] if s["low"] is not None else s["mean"])],
                [(s["high"] or s["mean"]) - s["mean"]],
            ],
            yerr=[[100 * (y - low)], [100 * (high - y)]],
            fmt=markers[archs.index(architecture(r)) % len(markers)],
            color=table.colour(r.method),
            capsize=2,
        )
        ax.annotate(r.name, (s["mean"], 100 * y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    methods = list(dict.fromkeys(r.method for r, _ in points))
    ax.legend(
        handles=[
            plt.Line2D([], [], color=table.colour(m), marker="o", linestyle="", label=table.label(m)) for m in methods
        ],
        fontsize=7,
        title="method (marker: architecture)" if len(archs) > 1 else "method",
        title_fontsize=7,
    )
    ax.set_xscale("log")
    ax.set_xlabel("top Hessian eigenvalue of the training loss (95% CI over batches)")
    label = "PGD-10" if target[0] == "pgd" else "AutoAttack"
    ax.set_ylabel(f"{label} {target[1]} {target[2]} accuracy (%)")
    ax.set_title("Robust accuracy against sharpness", fontsize=10)
    ax.grid(alpha=0.3)
    return save(plt, fig, out, SHARPNESS_PLOT)


def fourier(out: Path, pairs: list[tuple[RunRecord, dict]]) -> str | None:
    """The Fourier heat maps, one per configuration (its first seed analysed)."""
    plt = pyplot()
    first: dict[tuple[str, str], tuple[RunRecord, dict]] = {}  # one map per configuration (first seed analysed):
    for r, a in pairs:  # twenty seeds' maps of one method would show the same picture twenty times
        if "fourier" in a:
            first.setdefault((architecture(r), r.name), (r, a))
    maps = [(r.name, np.array(a["fourier"]["heat_map"])) for r, a in first.values()]
    if not maps:
        return None
    cols = min(3, len(maps))
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.8, 2.5 * rows), squeeze=False)
    shown = None
    for ax, (name, grid) in zip(axes.flat, maps):
        shown = ax.imshow(100 * grid, cmap="jet", vmin=0, vmax=100)
        ax.set_title(name, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(maps) :]:
        ax.axis("off")  # the last row's empty places
    assert shown is not None  # maps is not empty
    fig.colorbar(shown, ax=axes, label="error rate (%)", shrink=0.8)
    files.write_figure(out / FOURIER_PLOT, fig, dpi=100)
    plt.close(fig)
    return FOURIER_PLOT
