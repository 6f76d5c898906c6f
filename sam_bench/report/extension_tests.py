"""REPORT.md's "Extension tests": each extension test the scale fixed, judged like a primary test over the
confirmatory seeds from the measurements `reproduce` wrote (docs/reproducing.md, "Extension tests"); no verdict
until every run it needs is measured."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from sam_bench.corruptions import catalogue
from sam_bench.evaluation import corruption_outcomes
from sam_bench.evaluation.results_record import Results
from sam_bench.recipes.endpoints import Endpoints, ExtensionTest
from sam_bench.recipes.plan_entry import plan_entries
from sam_bench.report import code_provenance
from sam_bench.report.comparison import Comparison, compare, judge, p_cell, table_head
from sam_bench.report.folder import extension_path
from sam_bench.report.run_record import RunRecord

MEASURE = (catalogue.THREAT_MODEL, catalogue.THREAT_MODEL, None)


def applies(plan: dict) -> bool:
    return bool(plan.get("extension_tests"))


def measured(out: Path, plan: dict, test_name: str, test: ExtensionTest) -> tuple[dict, int, dict]:
    """(each arm's measured confirmatory runs as records of their extension results, the runs the test needs, each
    arm's other measured runs: the exploratory ones, outside the test)."""
    seeds = Endpoints.from_plan(plan).confirmatory_seeds
    found: dict[str, list[RunRecord]] = {name: [] for name in test.arms()}
    exploratory: dict[str, list[RunRecord]] = {name: [] for name in test.arms()}
    needed = 0
    for m in plan_entries(plan):
        if m.name not in found:
            continue
        # a confirmatory run whose records do not name code that holds the tests is exploratory
        counts = m.name not in seeds or (
            m.seed in seeds[m.name] and code_provenance.counts(Path(out) / "runs" / m.run_name, plan)
        )
        needed += counts
        path = extension_path(out, test_name, m.run_name)
        if path.is_file():
            results = Results.read(path)
            record = replace(RunRecord.read(Path(out), m, results, path), results=results)
            (found if counts else exploratory)[m.name].append(record)
    return found, needed, exploratory


def _mean(records: list[RunRecord]) -> float | None:
    levels = [e.robust_acc for r in records if (e := r.evaluation(*MEASURE)) is not None]
    return statistics.mean(levels) if levels else None


def _families(records: list[RunRecord]) -> dict[str, float]:
    per_run = [
        f["families"] for r in records if (e := r.evaluation(*MEASURE)) and (f := corruption_outcomes.figures(e))
    ]
    return {family: statistics.mean(run[family] for run in per_run) for family in per_run[0]} if per_run else {}


@dataclass(frozen=True)
class Judged:
    """One extension test of a folder: its runs measured and, once all it needs are, its comparison and verdict."""

    name: str
    test: ExtensionTest
    found: dict[str, list[RunRecord]]
    needed: int
    exploratory: dict[str, list[RunRecord]]
    comparison: Comparison | None = None
    verdict: str | None = None
    reason: str = ""

    @property
    def measured(self) -> int:
        return sum(len(v) for v in self.found.values())

    def exploratory_levels(self) -> str | None:
        """While the test waits: its arms' levels over their exploratory runs, where both arms have some (never
        judged: those seeds were not fixed before they trained, or their records do not name their code)."""
        (first, a), (second, b) = ((m, _mean(self.exploratory[m])) for m in self.test.models)
        if a is None or b is None:
            return None
        n, other = len(self.exploratory[first]), len(self.exploratory[second])
        seeds = ("1 seed" if n == 1 else f"{n} seeds") if n == other else "seeds"
        return f"exploratory, {seeds}: {second} {100 * b:.2f}% → {first} {100 * a:.2f}%, {100 * (a - b):+.2f} points"

    def beside(self) -> list[tuple[str, float, int]]:
        """(model, mean level over its seeds, seeds) of each model shown beside the arms."""
        return [(m, level, len(self.found[m])) for m in self.test.beside if (level := _mean(self.found[m])) is not None]


def judged(out: Path, plan: dict) -> list[Judged]:
    """Every extension test of a folder's plan, judged where all its runs are measured."""
    tests = []
    for name, test in Endpoints.from_plan(plan).extension_tests.items():
        found, needed, exploratory = measured(out, plan, name, test)
        one = Judged(name, test, found, needed, exploratory)
        if one.measured >= needed:
            first, second = test.models
            c = compare(found[first], found[second], MEASURE, label=test.label())
            if c is None or c.difference is None:
                one = replace(one, comparison=c, verdict="inconclusive", reason="an arm has no usable measurement")
            else:
                verdict, reason = judge([c])
                one = replace(one, comparison=c, verdict=verdict, reason=reason)
        tests.append(one)
    return tests


def section(out: Path, plan: dict) -> list[str]:
    lines = [
        "## Extension tests",
        "",
        "Questions beyond the paper's claims, fixed in the recipe before their data and judged like the primary "
        'tests over the confirmatory seeds (docs/reproducing.md, "Extension tests").',
        "",
    ]
    for one in judged(out, plan):
        test, found = one.test, one.found
        first, second = test.models
        lines += [f"### {one.name}: {first} − {second}, {test.label()}", ""]
        if one.verdict is None:
            waiting = f"Not measured yet: {one.measured} of {one.needed} runs (no verdict from part of the seeds)."
            if levels := one.exploratory_levels():
                waiting += f" So far, {levels}, not judged."
            lines += [waiting, ""]
            continue
        lines.append(f"Set measured: {set_used(one)}.")
        c = one.comparison
        if c is None or c.difference is None:
            lines += ["", "Inconclusive: an arm has no usable measurement (a degenerate model).", ""]
            continue
        lines += [
            "",
            "| comparison | levels (mean over seeds) | difference (points, 95% interval) | seeds | one-sided p "
            "| verdict |",
            "|---|---|---|---|---|---|",
            f"| {first} − {second} | {c.levels()} | {c.points()} "
            f"| {c.seeds} | {p_cell(c.p_value)} | **{one.verdict}** |",
            "",
            f"- {one.reason}. {c.describe()}.",
        ]
        for model, level, seeds in one.beside():
            lines.append(f"- Beside them: {model} {100 * level:.2f}% (mean over {seeds} seeds).")
        families = {model: _families(found[model]) for model in test.arms()}
        if any(families.values()):
            names = list(next(f for f in families.values() if f))
            lines += [
                "",
                "Secondary, per-family mean accuracy (mean over seeds):",
                "",
                *table_head("model", *names),
            ]
            for model, f in families.items():
                if f:
                    lines.append(f"| {model} | " + " | ".join(f"{100 * f[n]:.2f}%" for n in names) + " |")
        lines.append("")
    return lines


def set_used(one: Judged) -> str:
    """The corruption set(s) a judged test's runs were measured on."""
    entries = [e for group in one.found.values() for r in group if (e := r.evaluation(*MEASURE)) is not None]
    return ", ".join(sorted({str((e.settings or {}).get("corruption_set", "?")) for e in entries}))
