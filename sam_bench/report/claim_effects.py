"""Which effects a claim's cell shows at one scale, by the rule fixed in advance in docs/reproducing.md, "Which
figures a cell shows", each with the levels of the models it compares; the effect plot (`effect_plot`) draws the same.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sam_bench.eps import parse_eps
from sam_bench.recipes.endpoints import Endpoints
from sam_bench.report import code_provenance, confirmatory, masking_check
from sam_bench.report.claims import C1_MARGIN, C2_BUDGETS, claimed
from sam_bench.report.comparison import Comparison, compare
from sam_bench.report.confirmatory import PrimaryResult
from sam_bench.report.folder import Folder
from sam_bench.report.records import models
from sam_bench.report.run_record import RunRecord

HEADLINE_SAM = "SAM-0.1"  # the paper's headline rho: the configuration each cell speaks for


@dataclass
class Effect:
    """One comparison a cell shows, with the measure it is on and the AT model's level there (C2's cells)."""

    comparison: Comparison
    measure: tuple  # ("clean",), ("pgd", norm, eps), ("autoattack", norm, eps)
    select: dict = field(default_factory=dict)  # AutoAttack's version and attacks, the first N images
    beside: tuple[str, float] | None = None  # (the AT model, its accuracy over its seeds on this measure)
    check: masking_check.Check | None = None  # an AutoAttack effect's PGD-10 check, on its very seeds and images


@dataclass
class Shown:
    """What a claim's cell shows at one scale."""

    claim: str
    effects: list[Effect]
    primary: bool  # the effects are a judged primary test's
    verdict: str | None  # the primary test's verdict, else the pooled one; None where nothing is judged
    waiting: PrimaryResult | None = None  # a primary test fixed and not yet judged


def shown(folder: Folder, claim: str) -> Shown:
    """The effects a cell of C1, C2 or C3 shows at this scale, by the rule above."""
    primary = primary_of(folder, claim)
    if primary is not None and primary.verdict is not None:
        return Shown(claim, primary_effects(folder, primary), True, primary.verdict)
    pooled = pooled_verdict(folder, claim)
    verdict = pooled["verdict"] if pooled and pooled["comparisons"] else None
    return Shown(claim, every_budget(folder, claim), False, verdict, primary)


def primary_of(folder: Folder, claim: str) -> PrimaryResult | None:
    """The primary test the scale fixed for this claim, for the headline SAM (C3: the models it names), or None."""
    found = [r for r in confirmatory.primary_results(folder.records, folder.plan) if r.claim == claim]
    return next((r for r in found if HEADLINE_SAM in r.configuration), found[0] if found else None)


def primary_effects(folder: Folder, result: PrimaryResult) -> list[Effect]:
    """A judged primary test's comparisons as effects (C3's second one: clean, on the test's images); an
    AutoAttack test of one SAM against ST with its check on the same confirmatory seeds and images."""
    test = result.test
    measures = [(test.measure(), test.select())]
    if test.models is not None:
        measures.append((("clean",), {"images": test.images}))
    beside = _at_model(folder) if result.claim == "C2" else None
    found = [
        Effect(c, measure, select, _beside(beside, measure, select))
        for c, (measure, select) in zip(result.comparisons, measures)
    ]
    if test.attack == "autoattack" and test.models is None and found:
        counted = code_provenance.split(folder.records, folder.plan)[0]
        first, second = ([r for r in counted if r.name == name] for name in (result.configuration, "ST"))
        found[0].check = _check(first, second, found[0])
    return found


def every_budget(folder: Folder, claim: str) -> list[Effect]:
    """The claim's every budget over every seed: AutoAttack where every seed of both has it, else PGD-10."""
    grouped = models(folder.records)
    st, _, _ = claimed(grouped)
    sam = grouped.get(HEADLINE_SAM)
    if not st or not sam:
        return []
    found: list[Effect | None] = []
    if claim == "C1":
        found.append(_effect(sam, st, ("clean",), margin=C1_MARGIN))
    elif claim == "C2":
        at = _at_model(folder)
        found += [_autoattack(sam, st, norm, eps) or _effect(sam, st, ("pgd", norm, eps)) for norm, eps in C2_BUDGETS]
        for e in found:
            if e is not None:
                e.beside = _beside(at, e.measure, e.select)
    elif claim == "C3":
        at = _at_model(folder)
        if at is None:
            return []
        norm, eps = at[0].config.attack_norm, at[0].config.attack_eps
        found += [
            _autoattack(at, sam, norm, eps) or _effect(at, sam, ("pgd", norm, eps)),
            _effect(sam, at, ("clean",)),
        ]
    return [e for e in found if e is not None and e.comparison.difference is not None]


def pooled_verdict(folder: Folder, claim: str) -> dict | None:
    """The verdict pooling every seed that the cell speaks for (C3: against the AT model the cell shows)."""
    judged = [v for subset in folder.verdicts.values() for v in subset if v["claim"] == claim]
    if claim == "C3":
        at = _at_model(folder)
        wanted = f"{at[0].name} vs {HEADLINE_SAM}" if at else None
        return next((v for v in judged if v["configuration"] == wanted), None)
    return next((v for v in judged if v["configuration"] == HEADLINE_SAM), None)


def _at_model(folder: Folder) -> list[RunRecord] | None:
    """The AT model a cell speaks of: the one C3's primary test names, else the most seeds' (larger eps on a tie)."""
    grouped = models(folder.records)
    test = Endpoints.from_plan(folder.plan).primary_tests.get("C3")
    if test is not None and test.models and test.models[0] in grouped:
        return grouped[test.models[0]]
    _, _, ats = claimed(grouped)
    if not ats:
        return None
    return max(ats, key=lambda g: (len(g), parse_eps(g[0].config.attack_eps or "0")))


def _effect(first: list[RunRecord], second: list[RunRecord], measure: tuple, **kwargs) -> Effect | None:
    c = compare(first, second, measure, **kwargs)
    return None if c is None else Effect(c, measure)


def _autoattack(first: list[RunRecord], second: list[RunRecord], norm: str, eps: str) -> Effect | None:
    """AutoAttack at this budget where every seed of both models has it (standard first), or None."""
    runs = first + second
    selects: list[dict] = []
    for r in runs:
        for n, e, select in r.results.budgets("autoattack"):
            if n == norm and abs(parse_eps(e) - parse_eps(eps)) < 1e-9 and select not in selects:
                selects.append(select)
    for select in sorted(selects, key=lambda s: s["version"] != "standard"):
        if all(r.evaluation("autoattack", norm, eps, **select) is not None for r in runs):
            kind = "standard" if select["version"] == "standard" else " + ".join(a.upper() for a in select["attacks"])
            label = f"AutoAttack ({kind}) {norm} {eps}"
            c = compare(first, second, ("autoattack", norm, eps), label=label, **select)
            if c is not None:
                effect = Effect(c, ("autoattack", norm, eps), select)
                effect.check = _check(first, second, effect)
                return effect
    return None


def _check(first: list[RunRecord], second: list[RunRecord], effect: Effect) -> masking_check.Check | None:
    """PGD-10 against the AutoAttack of `effect` on its seeds and images (None unless every seed pair has both)."""
    _, norm, eps = effect.measure
    found = masking_check.check(first, second, norm, eps, **effect.select)
    return found if found is not None and found.seeds == effect.comparison.seeds else None


def _beside(at: list[RunRecord] | None, measure: tuple, select: dict) -> tuple[str, float] | None:
    """The AT model's accuracy on this measure, mean over its seeds that have it (None without one)."""
    accuracies = [ev.robust_acc for r in at or [] if (ev := r.evaluation(*measure, **select)) is not None]
    return (at[0].name, statistics.fmean(accuracies)) if at and accuracies else None


def signs_differ(found: dict[str, list[Effect]]) -> tuple[list[str], list[str]] | None:
    """(the scales where one measure's effect is above zero, those where below: 95% intervals), or None unless both."""
    above = [scale for scale, effects in found.items() if any(e.comparison.interval()[1] > 0 for e in effects)]
    below = [scale for scale, effects in found.items() if any(e.comparison.interval()[2] < 0 for e in effects)]
    return (above, below) if above and below else None


def short_label(measure: str) -> str:
    """A comparison's measure as a cell or the effect plot names it: 'clean', 'PGD Linf 2/255', 'AA Linf 2/255
    (APGD-CE + APGD-T)' (a primary test's label names its images too: its scale says how many)."""
    measure = measure.split(" on the first ")[0]
    if measure.startswith("AutoAttack (") and ") " in measure:
        kind, budget = measure[len("AutoAttack (") :].split(") ", 1)
        return f"AA {budget} ({kind})"
    return measure
