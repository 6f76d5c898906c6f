"""Our full-width PreActResNet-18 models beside RobustBench's published entries of comparable training (the report's
section and its plots; docs/reproducing.md). Smaller models get none: beside full-size models they say nothing.
"""

from __future__ import annotations

from pathlib import Path

from sam_bench.figure_labels import pyplot
from sam_bench.leaderboard import published
from sam_bench.report.comparison import table_head
from sam_bench.report.plots import save
from sam_bench.report.records import accuracy_with_interval, architecture, images, models
from sam_bench.report.run_record import RunRecord
from sam_bench.threat_models import names
from sam_bench.training import method_table

ARCHITECTURE = "PreActResNet-18"  # full width: what the references are
FULL_TEST_SET = 10_000  # RobustBench evaluates on all of CIFAR-10's test images


def plot_name(threat_model: str) -> str:
    return f"published-{threat_model}.png"


def comparable(records: list[RunRecord], norm: str, eps: str) -> dict[str, RunRecord]:
    """Per model, its first seed with AutoAttack at this budget, for the full-width CIFAR-10 models."""
    found = {}
    for name, group in models(records).items():
        first = next((r for r in group if r.evaluation("autoattack", norm, eps)), None)
        if first and architecture(first) == ARCHITECTURE and first.config.dataset == "cifar10":
            found[name] = first
    return found


def threat_models(records: list[RunRecord]) -> list[dict]:
    """The references files (one per threat model) that some model of the records can be set beside."""
    found = []
    for norm in names():
        if published.available("cifar10", norm):
            references = published.load("cifar10", norm)
            if comparable(records, norm, references["eps"]):
                found.append(references)
    return found


def _measured(record: RunRecord, *measure) -> tuple[float, float, float, int]:
    """Accuracy (%) with its 95% Wilson interval over the images evaluated, and their number."""
    ev, found = record.evaluation(*measure), accuracy_with_interval([record], *measure)
    assert ev is not None and ev.n_examples and found is not None, "comparable() picks records with this evaluation"
    return 100 * found[0], 100 * found[1], 100 * found[2], images(ev)


def plot(out: Path, ours: dict[str, RunRecord], references: dict) -> str:
    """published-<threat model>.png: clean against AutoAttack accuracy, ours and the published (no intervals)."""
    plt = pyplot()
    norm, eps = references["threat_model"], references["eps"]
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for entry in references["entries"]:
        x, y = float(entry["clean_acc"]), float(entry["autoattack_acc"])
        ax.scatter(x, y, marker="s", color="grey", s=30, zorder=2)
        ax.annotate(entry["id"], (x, y), fontsize=6.5, color="dimgrey", xytext=(3, -8), textcoords="offset points")
    ax.scatter([], [], marker="s", color="grey", s=30, label="RobustBench, published (PreActResNet-18 / ResNet-18)")
    for name, record in ours.items():
        cx, cl, ch, _ = _measured(record, "clean")
        ay, al, ah, _ = _measured(record, "autoattack", norm, eps)
        colour = method_table.colour(record.method)  # the method's, as on every plot
        ax.errorbar(cx, ay, xerr=[[cx - cl], [ch - cx]], yerr=[[ay - al], [ah - ay]], fmt="o", color=colour, capsize=2)
        ax.annotate(name, (cx, ay), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.scatter([], [], marker="o", color="black", label="this reproduction (95% intervals)")
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel(f"AutoAttack {norm} {eps} accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save(plt, fig, out, plot_name(norm))


def section(out: Path, records: list[RunRecord]) -> list[str]:
    """The section, or nothing where no model of the records can be set beside published entries."""
    found = threat_models(records)
    if not found:
        return []
    lines = [
        "## Next to RobustBench's published entries",
        "",
        f"Clean and AutoAttack (standard) accuracy of this reproduction's full-width {ARCHITECTURE} models (first "
        "seeds), with 95% Wilson intervals over the test images, beside RobustBench's published entries of "
        "comparable training, their numbers as RobustBench lists them (copied by `tools/robustbench_references.py`, "
        f"which names the commit and file of each). RobustBench evaluates on all {FULL_TEST_SET:,} test images.",
        "",
    ]
    for references in found:
        lines += _threat_model_lines(out, records, references)
    return lines


def _threat_model_lines(out: Path, records: list[RunRecord], references: dict) -> list[str]:
    norm, eps, source = references["threat_model"], references["eps"], references["source"]
    ours = comparable(records, norm, eps)
    fewer = sorted({_measured(r, "autoattack", norm, eps)[3] for r in ours.values()} - {FULL_TEST_SET})
    lines = [
        f"### {norm} {eps}",
        "",
        f"RobustBench's entries: {references['selection']}; from `{source['folder']}` at commit "
        f"`{source['commit'][:12]}` ({source['commit_date'][:10]})"
        + (f". Models of ours attacked on fewer images ({', '.join(f'{n:,}' for n in fewer)}) say so" if fewer else "")
        + ".",
        "",
        *table_head("this reproduction", "clean", "AutoAttack", "test images (AutoAttack)"),
    ]
    for name, record in ours.items():
        c, cl, ch, _ = _measured(record, "clean")
        a, al, ah, n = _measured(record, "autoattack", norm, eps)
        lines.append(f"| {name} | {c:.2f} ({cl:.1f}–{ch:.1f}) | {a:.2f} ({al:.1f}–{ah:.1f}) | {n:,} |")
    lines += [
        "",
        *table_head("RobustBench entry", "architecture", "venue", "clean", "AutoAttack", "RobustBench's note"),
    ]
    for e in sorted(references["entries"], key=lambda e: -float(e["autoattack_acc"])):
        named = f"[{e['id']}]({e['link']})" if e.get("link") else e["id"]
        lines.append(
            f"| {named} | {e['architecture']} | {e['venue']} | {e['clean_acc']} | {e['autoattack_acc']} | "
            f"{e.get('footnote', '')} |"
        )
    left_out = ", ".join(f"{e['id']} ({e['reason'].split(' (')[0]})" for e in references["left_out"])
    lines += ["", *([f"Left out of those architectures: {left_out}.", ""] if left_out else [])]
    title = f"Next to RobustBench's published entries, {norm} {eps}"
    lines += [f"![{title}]({plot(out, ours, references)})", ""]
    return lines
