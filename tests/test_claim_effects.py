"""Which effects a claim's cell and the effect plot show follow one rule fixed in advance (report.claim_effects):
a decided primary test's comparisons; otherwise every budget of the claim, AutoAttack before PGD-10 where every
seed has both. Each shows both models' levels, equal to their means over the seeds on the same images."""

import statistics

from test_confirmatory_report import PLAN, grid, record

from sam_bench.report import claim_effects, effect_plot, findings
from sam_bench.report.folder import Folder
from sam_bench.report.records import evaluation

NO_PRIMARY = {k: v for k, v in PLAN.items() if k not in ("primary_tests", "confirmatory_seeds")}
AT = [record("AT-Linf-8", "at", s, 700, 500, 450) for s in range(3)]


def folder(tmp_path, plan, records):
    return Folder(tmp_path, plan, records, None)


def test_a_decided_primary_test_is_what_its_cell_shows(tmp_path):
    shown = claim_effects.shown(folder(tmp_path, PLAN, grid()), "C2")
    assert shown.primary and shown.verdict == "holds" and shown.waiting is None
    assert [e.measure for e in shown.effects] == [("autoattack", "Linf", "2/255")]
    assert shown.effects[0].comparison.seeds == 3  # the confirmatory seeds 5-7 alone


def test_without_a_primary_test_a_cell_shows_every_budget_autoattack_first_where_every_seed_has_it(tmp_path):
    loaded = folder(tmp_path, NO_PRIMARY, grid())
    shown = claim_effects.shown(loaded, "C2")
    # AutoAttack at Linf 2/255 (APGD-CE + APGD-T) is on every seed; standard AutoAttack only on seed 0: left out
    assert [e.measure for e in shown.effects] == [
        ("pgd", "Linf", "1/255"),
        ("autoattack", "Linf", "2/255"),
        ("pgd", "Linf", "2/255"),
        ("pgd", "L2", "16/255"),
        ("pgd", "L2", "32/255"),
    ]
    assert shown.effects[1].select == {"version": "custom", "attacks": ("apgd-ce", "apgd-t")}
    assert not shown.primary and shown.verdict == claim_effects.pooled_verdict(loaded, "C2")["verdict"]
    assert all(e.comparison.seeds == 8 for e in shown.effects)


def test_a_primary_test_still_waiting_leaves_the_cell_to_every_budget(tmp_path):
    plan = {**PLAN, "confirmatory_seeds": {"ST": [8, 9], "SAM-0.1": [8, 9]}}  # seeds not trained yet
    shown = claim_effects.shown(folder(tmp_path, plan, grid()), "C2")
    assert shown.waiting is not None and shown.waiting.have == 0 and not shown.primary
    assert len(shown.effects) == 5


def test_levels_are_the_models_means_over_their_seeds_and_differ_by_the_effect(tmp_path):
    records = grid() + AT
    loaded = folder(tmp_path, NO_PRIMARY, records)
    for claim in ("C1", "C2"):
        for effect in claim_effects.shown(loaded, claim).effects:
            c = effect.comparison
            mean = {
                name: statistics.fmean(
                    evaluation(r, *effect.measure, **effect.select).robust_acc for r in records if r.name == name
                )
                for name in ("ST", "SAM-0.1", "AT-Linf-8")
            }
            assert c.first_level == mean["SAM-0.1"] and c.second_level == mean["ST"]
            assert abs((c.first_level - c.second_level) - c.difference) < 1e-12
            if claim == "C2":
                assert effect.beside == ("AT-Linf-8", mean["AT-Linf-8"])
            cell = findings._effect(effect)
            assert f"ST {100 * mean['ST']:.2f}% → SAM-0.1 {100 * mean['SAM-0.1']:.2f}%" in cell
            assert f"{100 * c.difference:+.2f} [" in cell


def test_the_effect_plots_points_mark_the_primary_tests_and_the_figure_is_written(tmp_path):
    points = effect_plot.points([folder(tmp_path, PLAN, grid() + AT)])
    primary = [(p.claim, p.measure, p.seeds) for p in points if p.primary]
    assert primary == [("C1", "clean", 3), ("C2", "AA Linf 2/255 (APGD-CE + APGD-T)", 3)]
    others = [(p.claim, p.measure, p.seeds) for p in points if not p.primary]
    # every budget over every seed, less the measure the primary test shows already
    budgets = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]
    assert others == [("C2", f"PGD {n} {e}", 8) for n, e in budgets]
    assert all(p.low <= p.difference <= p.high for p in points)
    out = effect_plot.draw(points, tmp_path / "effects.png")
    assert out is not None and out.stat().st_size > 10_000
    assert effect_plot.draw([], tmp_path / "none.png") is None


def test_a_sign_that_differs_between_scales_is_said(tmp_path):
    worse = [r for r in grid() if r.name == "ST"] + [
        record("SAM-0.1", "sam", s, 815, 20, 10) for s in range(8)
    ]  # SAM far below ST under PGD-10 at this scale
    small = folder(tmp_path, {**NO_PRIMARY, "scale": "small"}, grid())
    large = folder(tmp_path, {**NO_PRIMARY, "scale": "large"}, worse)
    said = "\n".join(findings._sign_changes([large, small]))
    assert (
        "- **C2** (SAM-0.1 − ST, PGD Linf 1/255): above zero at `small` (8 seeds); below zero at `large` (8 seeds)."
        in said
    )
    assert findings._sign_changes([small]) == []
