"""The report's confirmatory section, for a scale that fixed its endpoints before its runs (endpoints.py): each
primary test judged over the confirmatory seeds only, on exactly the measure and images the recipe named; C2 under
AutoAttack and PGD-10 against AutoAttack as secondary (docs/reproducing.md says how each is paired and judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sam_bench.evaluation import attack_table
from sam_bench.recipes.endpoints import Endpoints, PrimaryTest
from sam_bench.report import code_provenance, masking_check
from sam_bench.report.claims import C1_MARGIN, C2_BUDGETS, claimed
from sam_bench.report.comparison import Comparison, compare, judge, p_cell, points_interval
from sam_bench.report.records import models
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference, mixed_model

# The claims a primary test decides, and how: C1 a non-inferiority margin, C2 and C3 superiority (claims.CLAIMS)
MARGINS = {"C1": C1_MARGIN, "C2": 0.0, "C3": 0.0}


def applies(plan: dict) -> bool:
    return bool(plan.get("primary_tests"))


@dataclass
class PrimaryResult:
    """One primary test of one configuration over the confirmatory seeds: its comparisons and verdict, or none while
    it waits for two confirmatory seeds of each model."""

    claim: str
    test: PrimaryTest
    configuration: str  # "SAM-0.1" (against ST), "AT-Linf-8 vs SAM-0.1"
    have: int  # confirmatory seeds with results, the fewer of the two models'
    comparisons: list[Comparison] = field(default_factory=list)
    verdict: str | None = None
    reason: str | None = None

    def phrase(self) -> str:
        """The README's words for it: 'C1: fails for SAM-0.1 (ST 81.86% → SAM-0.1 80.49%, -1.36 points [-1.67, -1.06],
        15 seeds, <the test>)'; C3's names each of its two measures."""
        if not self.comparisons or self.verdict is None:
            return f"{self.claim}: waiting for {self.configuration} (a verdict needs two confirmatory seeds of each)"
        if len(self.comparisons) == 1:
            c = self.comparisons[0]
            found = f"{c.levels()}, {c.points(' points')}"
        else:
            found = "; ".join(f"{c.measure}: {c.levels()}, {c.points(' points')}" for c in self.comparisons)
        seeds = min(c.seeds for c in self.comparisons)
        return f"{self.claim}: {self.verdict} for {self.configuration} ({found}, {seeds} seeds, {self.test.label()})"


def primary_results(records: list[RunRecord], plan: dict) -> list[PrimaryResult]:
    """Every primary test the plan fixed, for every configuration it judges: the report and the README read these."""
    endpoints = Endpoints.from_plan(plan)
    _, st, sams, confirmatory = _split(records, plan)
    found = []
    for claim, test in endpoints.primary_tests.items():
        if claim not in MARGINS:
            continue
        if test.models:
            pairs = [(test.models[0], test.models[1], f"{test.models[0]} vs {test.models[1]}")]
        else:
            pairs = [(sam[0].name, st[0].name, sam[0].name) for sam in sams] if st else []
        for first, second, configuration in pairs:
            a, b = confirmatory.get(first, []), confirmatory.get(second, [])
            result = PrimaryResult(claim, test, configuration, min(len(a), len(b)))
            found_comparisons = _primary(a, b, test)
            if found_comparisons and all(c.method_level for c in found_comparisons):
                result.comparisons = found_comparisons
                result.verdict, result.reason = judge(found_comparisons)
            found.append(result)
    return found


def section(out: Path, records: list[RunRecord], plan: dict) -> list[str]:
    endpoints = Endpoints.from_plan(plan)
    grouped, st, sams, confirmatory = _split(records, plan)
    lines = ["## Confirmatory tests (primary endpoints)", "", *code_provenance.lines(records, plan), ""]
    lines += [
        "Confirmatory sample: "
        + "; ".join(
            f"{name} seeds {_seeds(seeds)} ({len(confirmatory.get(name, []))} of {len(seeds)} with results)"
            for name, seeds in code_provenance.seeds(records, plan).items()
        )
        + ".",
        "",
        "| claim | primary test | comparison | levels (mean over seeds) | difference (points, 95% interval) | seeds "
        "| one-sided p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reasons = []
    for result in primary_results(records, plan):
        if not result.comparisons:
            versus = f"{result.configuration} − ST" if result.test.models is None else " − ".join(result.test.models)
            lines.append(
                f"| {result.claim} | {result.test.label()} | {versus} | – | – | {result.have} | – "
                "| waiting: a verdict needs two confirmatory seeds of each |"
            )
            continue
        for c in result.comparisons:
            lines.append(
                f"| {result.claim} | {result.test.label()} | {c.first} − {c.second}"
                + (f", {c.measure}" if len(result.comparisons) > 1 else "")
                + f" | {c.levels()} | {c.points()} | {c.seeds} | {p_cell(c.p_value)} | **{result.verdict}** |"
            )
        reasons.append(
            f"- {result.claim}, {result.configuration}: {result.reason}. "
            + " ".join(f"{c.describe()}." for c in result.comparisons)
        )
    lines += ["", *reasons, ""] if reasons else [""]
    lines += [
        'The verdicts further down ("Verdicts") pool every seed, the exploratory ones (the seeds outside the '
        "confirmatory sample, which suggested these comparisons) included, and judge each claim on all its "
        "measures: they are secondary.",
        "",
    ]
    if st:
        lines += _autoattack_lines(grouped, st, sams, endpoints)
        lines += _masking_lines(grouped, st, sams, endpoints)
    return lines


def _split(records: list[RunRecord], plan: dict):
    """The records by model; ST's group (or None); the SAM groups (the claims' SAM: `claims.claimed`); each model's
    confirmatory runs that count (code_provenance)."""
    grouped = models(records)
    st, sams, _ = claimed(grouped)
    counted = set(map(id, code_provenance.split(records, plan)[0]))
    confirmatory = {name: [r for r in group if id(r) in counted] for name, group in grouped.items()}
    return grouped, st, sams, confirmatory


def _primary(first: list[RunRecord], second: list[RunRecord], test: PrimaryTest) -> list[Comparison]:
    """The test's comparisons of two models' confirmatory runs (none where a model lacks a measure): C1 and C2 one;
    C3 two, the AT model ahead on the robust measure and behind on clean accuracy, its seeds paired in order."""
    if not first or not second:
        return []
    if test.models is None:
        margin = MARGINS[test.claim]
        found = [compare(first, second, test.measure(), margin=margin, label=test.label(), **test.select())]
    else:
        found = [
            compare(first, second, test.measure(), label=test.measure_label(), in_order=True, **test.select()),
            compare(second, first, ("clean",), label="clean", in_order=True, images=test.images),
        ]
    return [c for c in found if c is not None] if all(c is not None for c in found) else []


def _autoattack_lines(grouped, st, sams, endpoints: Endpoints) -> list[str]:
    """C2 under AutoAttack, secondary: over every seed that has it and on the first seeds; Holm over this family."""
    family: list[tuple[str, Comparison]] = []
    primary = endpoints.primary_tests.get("C2")
    for sam in sams:
        if primary is not None and attack_table.has_versions(primary.attack):
            have = lambda g: [r for r in g if r.evaluation(*primary.measure(), **primary.select())]  # noqa: E731
            every_seed = f"{sam[0].name} − ST, every seed with it"
            family += [(every_seed, c) for c in _primary(have(sam), have(st), primary)]
        for norm, eps in C2_BUDGETS:
            firsts = [r for r in (sam[0], st[0]) if r.evaluation("autoattack", norm, eps, version="standard")]
            if len(firsts) == 2:
                label = f"AutoAttack (standard) {norm} {eps}"
                c = compare([sam[0]], [st[0]], ("autoattack", norm, eps), label=label, version="standard")
                if c is not None:
                    family.append((f"{sam[0].name} − ST, first seeds (these two trained models)", c))
    if not family:
        return []
    adjusted = inference.holm([next((p for p in (c.p_value, c.p_models) if p is not None), 1.0) for _, c in family])
    lines = [
        "### C2 under AutoAttack (secondary)",
        "",
        "One-sided tests of SAM − ST, Holm-adjusted over this table's rows. A row over first seeds compares two "
        "trained models on the test images (exact McNemar): it says nothing of the methods.",
        "",
        "| comparison | measure | levels (mean over seeds) | difference (points, 95% interval) | seeds × images "
        "| p (Holm) |",
        "|---|---|---|---|---|---|",
    ]
    for (what, c), p in zip(family, adjusted):
        lines.append(f"| {what} | {c.measure} | {c.levels()} | {c.points()} | {c.seeds} × {c.images:,} | {p_cell(p)} |")
    return lines + [""]


def _masking_lines(grouped, st, sams, endpoints: Endpoints) -> list[str]:
    """PGD-10 minus AutoAttack on the same images, per first-seed model at the claims' budgets and over seeds at C2's
    primary test's; SAM's gap against ST's, flagged when significantly larger."""
    rows: list[tuple[str, str, mixed_model.SeedsAndImages, mixed_model.SeedsAndImages | None]] = []
    flags: list[str] = []
    budgets = list(C2_BUDGETS)
    c3 = endpoints.primary_tests.get("C3")
    if c3 is not None and c3.norm is not None and (c3.norm, c3.eps) not in budgets:
        budgets.append((c3.norm, str(c3.eps)))
    for name, group in grouped.items():
        for norm, eps in budgets:
            gap = masking_check.gap(group[0], norm, eps, version="standard")
            if gap is None:
                continue
            vs_st: mixed_model.SeedsAndImages | None = None
            if group is not st and any(group is sam for sam in sams):
                st_gap = masking_check.gap(st[0], norm, eps, version="standard")
                if st_gap is not None and len(st_gap) == len(gap):
                    vs_st = mixed_model.over_images(gap - st_gap)
            model = f"{name} (seed {group[0].seed})"
            rows.append((model, f"{norm} {eps}, standard", mixed_model.over_images(gap), vs_st))
    primary = endpoints.primary_tests.get("C2")
    if primary is not None and attack_table.has_versions(primary.attack):
        norm, eps = str(primary.norm), str(primary.eps)
        select = {"version": primary.version, "attacks": primary.attacks}
        for sam in sams:  # seed s of SAM against seed s of ST, on the same images, every seed with both
            found = masking_check.check(sam, st, norm, eps, **select)
            if found is not None and found.seeds >= 2:
                attack = f"{norm} {eps}, " + " + ".join(a.upper() for a in primary.attacks or ())
                # ST's own gap over the same seeds first, so the difference beside SAM's reads against it
                rows.append((f"ST, {found.seeds} seeds", attack, found.second_gap, None))
                model = f"{sam[0].name}, {found.seeds} seeds (each against ST's same seed)"
                rows.append((model, attack, found.first_gap, found.difference))
    if not rows:
        return []
    lines = [
        "### PGD-10 against AutoAttack: a check for gradient masking",
        "",
        "Per model, PGD-10's accuracy minus AutoAttack's on the same test images (points: what AutoAttack finds "
        "that PGD-10 missed), and SAM's gap minus ST's. A SAM whose gap is significantly larger than ST's "
        "(one-sided p < 0.05) is flagged ⚠: its PGD-10 gain would rest partly on examples PGD-10 fails to find.",
        "",
        "| model | AutoAttack | PGD-10 − AutoAttack (points, 95% interval) | SAM's gap − ST's | |",
        "|---|---|---|---|---|",
    ]
    for model, attack, gap_of, vs_st in rows:
        cell, flag = "–", ""
        if vs_st is not None:
            cell = points_interval(vs_st.estimate, *vs_st.interval())
            if vs_st.p_value(0.0, "greater") < inference.ALPHA:
                flag = "⚠ larger"
                flags.append(f"{model} at {attack}")
        gap_cell = points_interval(gap_of.estimate, *gap_of.interval())
        lines.append(f"| {model} | {attack} | {gap_cell} | {cell} | {flag} |")
    lines += [
        "",
        ("⚠ Gradient masking suspected: " + "; ".join(flags) + ".")
        if flags
        else "No SAM model's gap is significantly larger than ST's.",
        "",
    ]
    return lines


def _seeds(seeds: list[int]) -> str:
    runs: list[list[int]] = []
    for s in sorted(seeds):
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
