"""What a reproduction's runs cost the machine: training and evaluation, wall time and CPU time. On a shared machine
wall time grows with whatever ran beside a run; its CPU time is what it used itself, the budget a reproduction is
sized against (core-hours). Runs from before CPU time was recorded count their wall time, and the totals say so.
"""

from __future__ import annotations

from sam_bench.report.run_record import RunRecord


def of_records(records: list[RunRecord]) -> dict:
    """Totals over a reproduction's records: wall and CPU seconds of training and evaluation, and how many lack CPU."""
    reused = [r for r in records if r.training.reused_from]  # paid for in the folder they came from
    records = [r for r in records if not r.training.reused_from]
    totals = {
        "runs": len(records),
        "reused_runs": len(reused),
        "training_wall_s": 0.0,
        "training_cpu_s": 0.0,
        "evaluation_wall_s": 0.0,
        "evaluation_cpu_s": 0.0,
        "runs_without_cpu": 0,
        "evaluations_without_cpu": 0,
    }
    for r in records:
        wall = float(r.training.wall_time_s or 0.0)
        cpu = r.training.cpu_s
        totals["training_wall_s"] += wall
        totals["training_cpu_s"] += wall if cpu is None else cpu
        totals["runs_without_cpu"] += cpu is None
        for ev in r.results.evaluations:
            seconds = float(ev.seconds or 0.0)
            totals["evaluation_wall_s"] += seconds
            totals["evaluation_cpu_s"] += float(seconds if ev.cpu_seconds is None else ev.cpu_seconds)
            totals["evaluations_without_cpu"] += ev.cpu_seconds is None
    totals["cpu_s"] = totals["training_cpu_s"] + totals["evaluation_cpu_s"]
    return totals


def describe(totals: dict) -> str:
    """One sentence: core-hours of CPU time, split into training and evaluation, with the wall time beside."""
    missing = [f"{totals[f'{k}_without_cpu']} {k}" for k in ("runs", "evaluations") if totals[f"{k}_without_cpu"]]
    return (
        f"{totals['cpu_s'] / 3600:.2f} core-hours of CPU time over {totals['runs']} runs (training "
        f"{totals['training_cpu_s'] / 3600:.2f}, evaluation {totals['evaluation_cpu_s'] / 3600:.2f}); their wall "
        f"time summed: training {totals['training_wall_s'] / 3600:.2f} h, evaluation "
        f"{totals['evaluation_wall_s'] / 3600:.2f} h"
        + (
            f" ({' and '.join(missing)} recorded before CPU time was: their wall time counts as CPU time)"
            if missing
            else ""
        )
        + (
            f"; {totals['reused_runs']} runs reused from other reproductions count there"
            if totals.get("reused_runs")
            else ""
        )
    )


def budget_sentence(cpu_s: float, budget: dict, what: str = "This") -> str:
    """`cpu_s` seconds of CPU time against a scale's `compute_budget` (H hours of a C-core machine), in a sentence."""
    allowed = budget["hours"] * budget["cores"]
    spent = cpu_s / 3600
    verdict = "within" if spent <= allowed else f"{spent - allowed:.2f} core-hours over"
    return (
        f"{what}: {spent:.2f} core-hours, {spent / budget['cores']:.2f} hours of a {budget['cores']}-core machine "
        f"kept busy on every core: {100 * spent / allowed:.0f}% of the scale's budget of {budget['hours']:g} hours "
        f"of a {budget['cores']}-core machine ({allowed:g} core-hours, the recipe's `compute_budget`), {verdict} it"
    )
