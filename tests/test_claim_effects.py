"""Which effects a claim's cell and the effect plot show follow one rule fixed in advance (report.claim_effects):
a decided primary test's comparisons; otherwise every budget of the claim, AutoAttack where every seed of both
models has it, else PGD-10, PGD-10's disagreement with AutoAttack shown as the check for gradient masking. Each
shows both models' levels, equal to their means over the seeds on the same images; the figure shows the cells'
effects, no others, with those levels."""

import statistics

from test_confirmatory_report import PLAN, grid, record

from sam_bench.report import claim_effects, confirmatory, effect_plot, findings
from sam_bench.report.folder import Folder

NO_PRIMARY = {k: v for k, v in PLAN.items() if k not in ("primary_tests", "confirmatory_seeds")}
AT = [record("AT-Linf-8", "at", s, 700, 500, 450) for s in range(3)]


def folder(tmp_path, plan, records):
    return Folder(tmp_path, plan, records, None)


def test_a_decided_primary_test_is_what_its_cell_shows(tmp_path):
    shown = claim_effects.shown(folder(tmp_path, PLAN, grid()), "C2")
    assert shown.primary and shown.verdict == "holds" and shown.waiting is None
    assert [e.measure for e in shown.effects] == [("autoattack", "Linf", "2/255")]
    assert shown.effects[0].comparison.seeds == 3  # the confirmatory seeds 5-7 alone


def test_without_a_primary_test_a_cell_shows_every_budget_autoattack_where_every_seed_has_it(tmp_path):
    loaded = folder(tmp_path, NO_PRIMARY, grid())
    shown = claim_effects.shown(loaded, "C2")
    # AutoAttack at Linf 2/255 (APGD-CE + APGD-T) is on every seed: it is the effect there, not PGD-10; standard
    # AutoAttack only on seed 0: left out
    assert [e.measure for e in shown.effects] == [
        ("pgd", "Linf", "1/255"),
        ("autoattack", "Linf", "2/255"),
        ("pgd", "L2", "16/255"),
        ("pgd", "L2", "32/255"),
    ]
    assert shown.effects[1].select == {"version": "custom", "attacks": ("apgd-ce", "apgd-t")}
    assert not shown.primary and shown.verdict == claim_effects.pooled_verdict(loaded, "C2")["verdict"]
    assert all(e.comparison.seeds == 8 for e in shown.effects)
    # PGD-10 at that budget is the check under it, on the same eight seeds, and not flagged: both models' PGD-10
    # find what their AutoAttack finds, less the same ten images
    check = shown.effects[1].check
    assert check is not None and check.seeds == 8 and not check.flagged
    assert [e.check for e in shown.effects if e is not shown.effects[1]] == [None, None, None]
    cell = findings._cell(loaded, "C2")
    assert "PGD Linf 2/255" not in cell and "PGD-10 − AA: ST +1.00, SAM-0.1 +1.00" in cell and "⚠" not in cell


def test_pgd_10_missing_what_autoattack_finds_on_sam_alone_is_flagged_beside_the_autoattack_effect(tmp_path):
    loaded = folder(tmp_path, NO_PRIMARY, grid(masked=30))  # SAM's PGD-10 leaves 30 more images right
    (effect,) = [e for e in claim_effects.shown(loaded, "C2").effects if e.measure[0] == "autoattack"]
    assert effect.check is not None and effect.check.flagged
    assert "⚠ PGD-10 − AA: ST +1.00, SAM-0.1 +4.00; SAM-0.1's gap larger by +3.00 [" in findings._cell(loaded, "C2")
    assert any(p.masking for p in effect_plot.points([loaded]))


def test_a_primary_test_still_waiting_leaves_the_cell_to_every_budget(tmp_path):
    plan = {**PLAN, "confirmatory_seeds": {"ST": [8, 9], "SAM-0.1": [8, 9]}}  # seeds not trained yet
    shown = claim_effects.shown(folder(tmp_path, plan, grid()), "C2")
    assert shown.waiting is not None and shown.waiting.have == 0 and not shown.primary
    assert len(shown.effects) == 4


def test_a_decided_primary_autoattack_test_carries_its_check_on_its_own_seeds_to_the_first_line(tmp_path):
    loaded = folder(tmp_path, PLAN, grid(masked=30))
    (effect,) = claim_effects.shown(loaded, "C2").effects
    assert effect.check is not None and effect.check.seeds == effect.comparison.seeds == 3 and effect.check.flagged
    (c2,) = [r for r in confirmatory.primary_results(loaded.records, PLAN) if r.claim == "C2"]
    words = findings._in_words(c2, claim_effects.primary_effects(loaded, c2))
    assert words.endswith("(C2 holds; ⚠ gradient masking suspected: SAM-0.1's PGD-10 − AA gap exceeds ST's on the same "
                          "seeds and images, so PGD-10 would overstate its gain)")  # fmt: skip
    # the report flags the same model, over every seed that has both
    assert "SAM-0.1, 8 seeds (each against ST's same seed) at Linf 2/255, APGD-CE + APGD-T." in "\n".join(
        confirmatory.section(tmp_path, loaded.records, PLAN)
    )


def test_levels_are_the_models_means_over_their_seeds_and_differ_by_the_effect(tmp_path):
    records = grid() + AT
    loaded = folder(tmp_path, NO_PRIMARY, records)
    for claim in ("C1", "C2"):
        for effect in claim_effects.shown(loaded, claim).effects:
            c = effect.comparison
            mean = {
                name: statistics.fmean(
                    r.evaluation(*effect.measure, **effect.select).robust_acc for r in records if r.name == name
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


def test_the_effect_plot_draws_the_cells_effects_with_their_levels_and_the_figure_is_written(tmp_path):
    for plan in (PLAN, NO_PRIMARY):
        loaded = folder(tmp_path, plan, grid() + AT)
        points = effect_plot.points([loaded])
        # the very effects of the cells (the same rule), and no other: the same seeds wherever an effect is stated
        cells = [
            (claim, claim_effects.short_label(e.comparison.measure), e.comparison.seeds, shown.primary)
            for claim in ("C1", "C2", "C3")
            for shown in [claim_effects.shown(loaded, claim)]
            for e in shown.effects
        ]
        assert [(p.claim, p.measure, p.seeds, p.primary) for p in points] == cells
        for p, e in zip(
            points, [e for claim in ("C1", "C2", "C3") for e in claim_effects.shown(loaded, claim).effects]
        ):
            c = e.comparison
            # the levels it is the difference of: the second model, the first, then the AT model beside C2's
            assert [(level.model, level.accuracy) for level in p.levels[:2]] == [
                (c.second, 100 * c.second_level),
                (c.first, 100 * c.first_level),
            ]
            assert abs((p.levels[1].accuracy - p.levels[0].accuracy) - p.difference) < 1e-9
            assert p.levels[2:] == ((effect_plot.Level("AT-Linf-8", "at", 100 * e.beside[1]),) if e.beside else ())
    primary = [(p.claim, p.measure, p.seeds) for p in effect_plot.points([folder(tmp_path, PLAN, grid())]) if p.primary]
    assert primary == [("C1", "clean", 3), ("C2", "AA Linf 2/255 (APGD-CE + APGD-T)", 3)]
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
