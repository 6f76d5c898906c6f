"""Our full-scale models beside RobustBench's published entries (the report's section and its plot).

A reproduction's full-width PreActResNet-18 models with AutoAttack at Linf 8/255 on CIFAR-10 are set,
clean accuracy against AutoAttack accuracy, beside RobustBench's published PreActResNet-18 and
ResNet-18 entries of comparable training (`sam_bench.leaderboard.published`: no additional or
synthetic data), each cited with its numbers as RobustBench lists them. Smaller models (the CPU
scales' 1/8 width) get no such section: beside published full-size models they would say nothing.
"""

from __future__ import annotations

from pathlib import Path

from sam_bench import files, stats
from sam_bench.experiments.claims import architecture, evaluation, models
from sam_bench.leaderboard import published

PLOT = "published.png"
ARCHITECTURE = "PreActResNet-18"  # full width: what the references are
NORM, EPS = "Linf", "8/255"  # RobustBench's CIFAR-10 Linf budget


def _dataset(record: dict) -> str:
    return record["config"].get("dataset", "cifar10")


def comparable(records: list[dict]) -> dict[str, dict]:
    """Per model, its first seed with AutoAttack at Linf 8/255, for the full-width CIFAR-10 models."""
    found = {}
    for name, group in models(records).items():
        first = next((r for r in group if evaluation(r, "autoattack", NORM, EPS)), None)
        if first and architecture(first) == ARCHITECTURE and _dataset(first) == "cifar10":
            found[name] = first
    return found


def applies(records: list[dict]) -> bool:
    return bool(comparable(records)) and published.available("cifar10", NORM)


def _measured(record: dict, attack: str) -> tuple[float, float, float, int]:
    """Accuracy (%) with its 95% Wilson interval over the images evaluated, and their number."""
    ev = evaluation(record, attack, NORM, EPS) if attack != "clean" else evaluation(record, "clean")
    assert ev is not None and ev.get("n_examples"), "comparable() picks records with this evaluation"
    n = ev["n_examples"]
    low, high = stats.wilson(round(ev["robust_acc"] * n), n)
    return 100 * ev["robust_acc"], 100 * low, 100 * high, n


def plot(out: Path, ours: dict[str, dict], references: dict) -> str:
    """published.png: clean against AutoAttack accuracy, our models (95% intervals as bars) and the
    published entries (as RobustBench lists them: no interval is published)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for entry in references["entries"]:
        x, y = float(entry["clean_acc"]), float(entry["autoattack_acc"])
        ax.scatter(x, y, marker="s", color="grey", s=30, zorder=2)
        ax.annotate(entry["id"], (x, y), fontsize=6.5, color="dimgrey", xytext=(3, -8), textcoords="offset points")
    ax.scatter([], [], marker="s", color="grey", s=30, label="RobustBench, published (PreActResNet-18 / ResNet-18)")
    for i, (name, record) in enumerate(ours.items()):
        cx, cl, ch, _ = _measured(record, "clean")
        ay, al, ah, _ = _measured(record, "autoattack")
        ax.errorbar(
            cx, ay, xerr=[[cx - cl], [ch - cx]], yerr=[[ay - al], [ah - ay]], fmt="o", color=f"C{i % 10}", capsize=2
        )
        ax.annotate(name, (cx, ay), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.scatter([], [], marker="o", color="black", label="this reproduction (95% intervals)")
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel(f"AutoAttack {NORM} {EPS} accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    files.atomic_write(out / PLOT, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return PLOT


def section(out: Path, records: list[dict]) -> list[str]:
    ours = comparable(records)
    references = published.load("cifar10", NORM)
    source = references["source"]
    fewer = sorted({_measured(r, "autoattack")[3] for r in ours.values()} - {10_000})
    lines = [
        "## Next to RobustBench's published entries",
        "",
        f"Clean and AutoAttack (standard) {NORM} {EPS} accuracy of this reproduction's full-width "
        f"{ARCHITECTURE} models (first seeds), with 95% Wilson intervals over the test images, beside "
        f"RobustBench's published entries of comparable training ({references['selection']}), their numbers "
        f"as RobustBench lists them in `{source['folder']}` at commit `{source['commit'][:12]}` "
        f"({source['commit_date'][:10]}), copied by `tools/robustbench_references.py`. RobustBench "
        "evaluates on all 10,000 test images"
        + (f"; models of ours attacked on fewer ({', '.join(f'{n:,}' for n in fewer)}) say so below" if fewer else "")
        + ".",
        "",
        "| this reproduction | clean | AutoAttack | test images (AutoAttack) |",
        "|---|---|---|---|",
    ]
    for name, record in ours.items():
        c, cl, ch, _ = _measured(record, "clean")
        a, al, ah, n = _measured(record, "autoattack")
        lines.append(f"| {name} | {c:.2f} ({cl:.1f}–{ch:.1f}) | {a:.2f} ({al:.1f}–{ah:.1f}) | {n:,} |")
    lines += [
        "",
        "| RobustBench entry | architecture | venue | clean | AutoAttack | RobustBench's note |",
        "|---|---|---|---|---|---|",
    ]
    for e in sorted(references["entries"], key=lambda e: -float(e["autoattack_acc"])):
        named = f"[{e['id']}]({e['link']})" if e.get("link") else e["id"]
        lines.append(
            f"| {named} | {e['architecture']} | {e['venue']} | {e['clean_acc']} | {e['autoattack_acc']} | "
            f"{e.get('footnote', '')} |"
        )
    left_out = ", ".join(f"{e['id']} ({e['reason'].split(' (')[0]})" for e in references["left_out"])
    lines += ["", *([f"Left out of those architectures: {left_out}.", ""] if left_out else [])]
    lines += [f"![Next to RobustBench's published entries]({plot(out, ours, references)})", ""]
    return lines
