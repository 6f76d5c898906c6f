"""A report's section on models trained elsewhere (a recipe's `zoo` list; docs/reproducing.md): their published
claims beside what this reproduction measured. They have no run, so no training figure is stated of them.
"""

from __future__ import annotations

from pathlib import Path

from sam_bench.evaluation.results_record import Results
from sam_bench.report.claims import C2_BUDGETS, claimed
from sam_bench.report.folder import Folder
from sam_bench.report.records import models

NOT_MEASURED = "not measured"


def results_path(out: Path, zoo_id: str) -> Path:
    """Where a reproduction keeps its results of a zoo model trained elsewhere."""
    return Path(out) / "results" / f"{zoo_id}.json"


def _percent(ev) -> str:
    return NOT_MEASURED if ev is None else f"{100 * ev.robust_acc:.1f}%"


def _claimed(value) -> str:
    return "not stated" if value is None else f"{value:g}%"


def section(folder: Folder) -> list[str]:
    """The section's markdown lines; none where the plan evaluates no zoo model."""
    ids = folder.plan.get("zoo") or []
    if not ids:
        return []
    found = {i: Results.read(results_path(folder.path, i)) for i in ids if results_path(folder.path, i).is_file()}
    lines = [
        "## Models trained elsewhere",
        "",
        "Zoo models trained elsewhere, evaluated here with the recipe's evaluation from their zoo weights; "
        "they have no run here, so nothing is said of their training beyond their importer's words. "
        "Claims are the figures published for them, recorded at import, not measured here.",
        "",
    ]
    missing = [i for i in ids if i not in found]
    if missing:
        lines += [f"Not evaluated yet: {', '.join(missing)}.", ""]
    header = ["model", "trained", "clean", *(f"AutoAttack {norm} {eps}" for norm, eps in C2_BUDGETS)]
    rows = []
    for zoo_id, results in found.items():
        told = (results.get("reproduce") or {}).get("trained_elsewhere") or {}
        cells = [_percent(results.evaluation("autoattack", norm, eps)) for norm, eps in C2_BUDGETS]
        where = f"elsewhere ({told['description']})" if told else "by sam-bench"
        rows.append([f"`{zoo_id}`", where, _percent(results.evaluation("clean")), *cells])
    grouped = models(folder.records)
    st, sams, ats = claimed(grouped)
    for group in [g for g in (st, *sams, *ats) if g]:
        first = group[0]
        cells = [_percent(first.evaluation("autoattack", norm, eps)) for norm, eps in C2_BUDGETS]
        rows.append([first.name, f"here (seed {first.seed})", _percent(first.evaluation("clean")), *cells])
    lines += ["### At the claims' small budgets", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    claim_rows = []
    for zoo_id, results in found.items():
        told = (results.get("reproduce") or {}).get("trained_elsewhere") or {}
        for c in told.get("claims") or []:
            measured = results.evaluation("autoattack", c["threat_model"], c["eps"])
            claim_rows.append(
                f"| `{zoo_id}` | {c['threat_model']} {c['eps']} | {_claimed(c.get('clean_acc'))} | "
                f"{_percent(results.evaluation('clean'))} | {_claimed(c.get('autoattack_acc'))} | "
                f"{_percent(measured)} | {c['source']} |"
            )
    lines += ["### Published claims beside what was measured here", ""]
    if claim_rows:
        lines += [
            "| model | budget | claimed clean | measured clean | claimed AutoAttack | measured AutoAttack "
            "| claim's source |",
            "|---|---|---|---|---|---|---|",
            *claim_rows,
            "",
            "Measured on this reproduction's test images (the results files say which), claims on the full test "
            "set: a difference is a question for a full-scale evaluation, not a verdict.",
            "",
        ]
    else:
        lines += ["No claims were recorded at import for these models.", ""]
    return lines
