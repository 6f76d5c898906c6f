"""The simulation's outputs: results.json, the two plots and REPORT.md, all rendered from the results
record (no number typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from sam_bench import files
from sam_bench.figure_labels import pyplot

TEMPLATE = Path(__file__).with_name("report.md.j2")
RESULTS, REPORT, RELIANCE_PLOT, TRADEOFF_PLOT = "results.json", "REPORT.md", "reliance.png", "tradeoff.png"
COLORS = {"SAM": "tab:blue", "Linf": "tab:red", "L2": "tab:orange", "ST": "black"}


def _runs(results: dict, method: str, norm: str | None = None) -> list[dict]:
    return [r for r in results["runs"] if r["method"] == method and r["norm"] == norm]


def plot_reliance(results: dict, path: Path) -> None:
    """Non-robust reliance against each method's strength; SAM also drawn at its equivalent Linf eps."""
    plt = pyplot()

    st = _runs(results, "ST")[0]
    st_reliance = st["mean"]["non_robust_reliance"]
    panels = [
        ("SAM", None, "SAM: rho (weight perturbation)"),
        ("AT", "Linf", "AT Linf: eps (input perturbation)"),
        ("AT", "L2", "AT L2: eps (input perturbation)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, (method, norm, title) in zip(axes, panels):
        runs = _runs(results, method, norm)
        color = COLORS[norm or method]
        if not runs:
            ax.set_title(title + " (none trained)")
            continue
        curve = [st, *runs] if method == "AT" else runs  # AT's eps 0 is ST
        x = [r["strength"] for r in curve]
        mean = [r["mean"]["non_robust_reliance"] for r in curve]
        low, high = ([r["metrics"]["non_robust_reliance"][end] for r in curve] for end in ("min", "max"))
        ax.plot(x, mean, "o-", color=color, label=f"{method} {norm or ''}".strip())
        ax.fill_between(x, low, high, color=color, alpha=0.2, label="range over repetitions")
        ax.axhline(st_reliance, color=COLORS["ST"], ls="--", lw=1, label="ST")
        if method == "SAM":
            ax.set_xscale("log")
        if norm == "Linf":
            sam = _runs(results, "SAM")
            eps = [r["mean"]["sam_perturbation"]["equivalent_eps_Linf"] for r in sam]
            reliance = [r["mean"]["non_robust_reliance"] for r in sam]
            ax.plot(eps, reliance, "s", color=COLORS["SAM"], ms=5, label="SAM at its equivalent eps")
            eta = results["spec"]["data"]["non_robust"]["mean"]
            ax.axvline(eta, color="grey", ls=":", lw=1, label="non-robust features' mean")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("rho" if method == "SAM" else "eps")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("non-robust reliance\n(share of the mean margin)")
    fig.suptitle("Reliance on non-robust features against perturbation strength (mean over repetitions)", fontsize=11)
    files.write_figure(path, fig, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_tradeoff(results: dict, path: Path) -> None:
    """Clean against robust accuracy (first attack) along SAM's rho and AT's eps."""
    plt = pyplot()

    attack = results["spec"]["evaluation"]["attacks"][0]
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    st = _runs(results, "ST")[0]["mean"]
    for method, norm in (("SAM", None), ("AT", "Linf"), ("AT", "L2")):
        runs = _runs(results, method, norm)
        if not runs:
            continue
        robust = [st["robust_accuracy"][0]] + [r["mean"]["robust_accuracy"][0] for r in runs]
        clean = [st["clean_accuracy"]] + [r["mean"]["clean_accuracy"] for r in runs]
        color = COLORS[norm or method]
        label = "SAM (rho grid)" if method == "SAM" else f"AT {norm} (eps grid)"
        ax.plot(robust, clean, "o-", ms=4, color=color, label=label)
        for r in runs[::2]:
            point = (r["mean"]["robust_accuracy"][0], r["mean"]["clean_accuracy"])
            ax.annotate(f"{r['strength']:g}", point, fontsize=6, color=color, xytext=(3, 3), textcoords="offset points")
    ax.plot(st["robust_accuracy"][0], st["clean_accuracy"], "*", ms=12, color=COLORS["ST"], label="ST")
    ax.axhline(results["model"]["bayes_accuracy"], color="grey", ls=":", lw=1, label="best clean accuracy (Bayes)")
    ax.set_xlabel(f"robust accuracy ({attack['norm']} eps {attack['eps']:g}, exact)")
    ax.set_ylabel("clean accuracy (exact)")
    ax.set_title("Clean against robust accuracy (mean over repetitions)", fontsize=11)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    files.write_figure(path, fig, dpi=120, bbox_inches="tight")
    plt.close(fig)


def render_report(results: dict) -> str:
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    env.filters["f"] = lambda v, digits=3: "none" if v is None else f"{v:.{digits}f}"
    env.filters["g"] = lambda v: f"{v:g}"
    env.filters["eps"] = lambda v: "none" if v is None else "0 (ST)" if v == 0 else f"{v:.4f}"
    env.filters["span"] = lambda s, digits=3: f"{s['mean']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"
    attacks = [f"{a['norm']} {a['eps']:g}" for a in results["spec"]["evaluation"]["attacks"]]
    return env.from_string(TEMPLATE.read_text()).render(
        r=results,
        attacks=attacks,
        sam=_runs(results, "SAM"),
        plots={"reliance": RELIANCE_PLOT, "tradeoff": TRADEOFF_PLOT},
    )


def write_outputs(results: dict, out: str | Path) -> dict[str, Path]:
    """results.json, reliance.png, tradeoff.png and REPORT.md in `out`; returns their paths."""
    out = Path(out)
    paths = {
        "results": out / RESULTS,
        "reliance": out / RELIANCE_PLOT,
        "tradeoff": out / TRADEOFF_PLOT,
        "report": out / REPORT,
    }
    files.write_text(paths["results"], json.dumps(results, indent=1) + "\n")
    plot_reliance(results, paths["reliance"])
    plot_tradeoff(results, paths["tradeoff"])
    files.write_text(paths["report"], render_report(results))
    return paths
