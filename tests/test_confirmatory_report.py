"""The report's confirmatory section: the primary tests judged over the confirmatory seeds only,
traced to the commit that fixed them; C2 under AutoAttack as a Holm-adjusted secondary family; PGD-10
against AutoAttack on the same images, with SAM flagged when its gap is significantly larger than ST's."""

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
from run_records import run_record

from sam_bench import files
from sam_bench.evaluation import outcomes
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report import confirmatory

ROOT = Path(__file__).parent.parent
N = 1000
CUSTOM = {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]}


def flags(count, seed, n=N):
    """`count` of the N images right, in an order of the seed's (so one model's evaluations nest: what
    AutoAttack leaves right, PGD-10 leaves right too), cut to the first n images."""
    right = np.zeros(N, bool)
    right[np.random.default_rng(seed).permutation(N)[:count]] = True
    return right[:n]


def ev(attack, norm, eps, value, count, seed, n=N, settings=None, breakdown=False):
    """An evaluation with `count` of its n images right; `breakdown`: AutoAttack's, with 2 more images right
    after APGD-T than at the end (FAB-T flipped one, Square one)."""
    f = flags(count, seed, n)
    right = int(f.sum())
    return {
        "attack": attack,
        "norm": norm,
        "eps": eps,
        "eps_value": value,
        "n_examples": n,
        "robust_acc": float(f.mean()),
        "outcomes": outcomes.encode(f),
        "settings": settings or {},
        **(
            {"breakdown": {"clean": 0.9, **{a: (right + k) / n for a, k in zip(ATTACKS, (5, 2, 1, 0))}}}
            if breakdown
            else {}
        ),
    }


ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square")


def record(name, method, seed, clean, pgd, aa, masked=0, custom=None, evaluations=None, breakdown=False):
    """`pgd` and `aa` images right at every C2 budget; a masked model's PGD-10 finds `masked` fewer
    examples than AutoAttack does (its AutoAttack count stays `aa`); `custom`: the APGD-CE + APGD-T count at
    Linf 2/255 (`aa` by default). `evaluations` replaces them all; `breakdown`: standard AutoAttack's."""
    if evaluations is None:
        evaluations = []
        for norm, eps, value in (
            ("Linf", "1/255", 1 / 255),
            ("Linf", "2/255", 2 / 255),
            ("L2", "16/255", 16 / 255),
            ("L2", "32/255", 32 / 255),
        ):
            evaluations.append(ev("pgd", norm, eps, value, pgd + masked, seed))
            if seed == 0:  # standard AutoAttack on the first seeds' first 500 images
                standard = {"version": "standard"}
                evaluations.append(ev("autoattack", norm, eps, value, aa, seed, 500, standard, breakdown))
        evaluations.append(
            ev("autoattack", "Linf", "2/255", 2 / 255, aa if custom is None else custom, seed, N, CUSTOM)
        )
    return run_record(
        {
            "name": name,
            "key": f"{name}-{seed}",
            "seed": seed,
            "primary": seed == 0,
            "config": {"method": method},
            "results": {
                "clean_acc": float(flags(clean, seed).mean()),
                "clean_outcomes": outcomes.encode(flags(clean, seed)),
                "dataset": {"n_examples": N},
                "evaluations": evaluations,
            },
        }
    )


def grid(masked=0, custom=None, **kwargs):
    """ST and SAM-0.1 over seeds 0-7; `custom(seed)`: SAM's APGD-CE + APGD-T count of that seed."""
    seeds = range(8)
    return [record("ST", "standard", s, 820, 60, 50, **kwargs) for s in seeds] + [
        record("SAM-0.1", "sam", s, 815 + (s % 3), 90, 80, masked, custom and custom(s), **kwargs) for s in seeds
    ]


PLAN = {
    "name": "paper-cifar10",
    "scale": "cpu-confirmatory",
    "primary_tests": {
        "C1": {"attack": "clean", "images": N},
        "C2": {"attack": "autoattack", "norm": "Linf", "eps": "2/255", "images": N, **CUSTOM},
    },
    "confirmatory_seeds": {"ST": [5, 6, 7], "SAM-0.1": [5, 6, 7]},
}


def write_runs(out: Path, records, commit):
    """Each run's metadata naming `commit` as the code that trained it; the records as the folder's reader makes
    them from it."""
    for r in records:
        files.write_json(out / "runs" / f"{r.name}-{r.key}" / "metadata.json", {"code_commit": commit})
    return [replace(r, training=replace(r.training, code_commit=commit)) for r in records]


def test_the_primary_tests_are_judged_over_the_confirmatory_seeds_only(tmp_path):
    # the exploratory seeds say the opposite of the confirmatory ones at C2: they must not count
    records = grid(custom=lambda seed: 10 if seed < 5 else None)
    write_runs(tmp_path, records, "HEAD")
    lines = confirmatory.section(tmp_path, records, PLAN)
    text = "\n".join(lines)
    c2 = next(line for line in lines if line.startswith("| C2 |"))
    assert "AutoAttack (APGD-CE + APGD-T) Linf 2/255 on the first 1,000 test images" in c2
    assert "| 3 |" in c2 and "**holds**" in c2  # three confirmatory seeds, SAM ahead on all of them
    c1 = next(line for line in lines if line.startswith("| C1 |"))
    assert "**holds**" in c1  # at most half a point below ST's clean accuracy, against a 1-point margin
    assert "ST seeds 5-7 (3 of 3 with results)" in text
    assert "### C2 under AutoAttack (secondary)" in text and "Holm" in text
    # the README's summary says the same, in words, from the same results
    phrases = [r.phrase() for r in confirmatory.primary_results(records, PLAN)]
    assert phrases[0].startswith("C1: holds for SAM-0.1 (") and "3 seeds, clean on the first 1,000" in phrases[0]
    assert phrases[1].startswith("C2: holds for SAM-0.1 (ST ") and c2.split(" | ")[4].split(" [")[0] in phrases[1]
    assert c2.split(" | ")[3] in phrases[1]  # the two models' levels, as the table gives them


def test_the_readme_summary_leads_with_the_primary_tests_and_calls_the_pooled_verdicts_secondary(tmp_path):
    from sam_bench.report import summary

    class Loaded:  # a folder as summary reads it: its plan and records (the rest is tested elsewhere)
        plan = PLAN
        records = grid()

    said = summary._primary_tests(Loaded())
    assert said.startswith("Primary tests, fixed in the recipe before the confirmatory seeds trained")
    assert "C1: holds for SAM-0.1" in said and "C2: holds for SAM-0.1" in said
    Loaded.plan = {k: v for k, v in PLAN.items() if k not in ("primary_tests", "confirmatory_seeds")}
    assert summary._primary_tests(Loaded()) == ""


def test_the_commit_that_fixed_the_endpoints_and_the_runs_after_it(tmp_path):
    recipe = load_recipe("paper-cifar10", "cpu-confirmatory")
    plan = recipe.describe()
    records = grid()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = ROOT / "reproductions" / ".test-confirmatory"  # inside the checkout: git finds the history from here
    try:
        named = write_runs(out, records, head)
        lines = confirmatory.section(out, named, plan)
        assert "were fixed in commit `c03a468" in lines[2]
        text = "\n".join(lines)
        assert "6 of the 6 confirmatory runs with results count." in text and "(exploratory)" not in text
        assert "ST seeds 5-19 (3 of 15 with results)" in text
        before = write_runs(out, records, "5f4934ad1faab31dea35839dedf5c047e74adb0d")  # before the endpoints were set
        text = "\n".join(confirmatory.section(out, before, plan))
        assert "0 of the 6 confirmatory runs with results count." in text
        assert "- ST seed 5 (`ST-ST-5`): commit 5f4934ad1f: that commit does not hold the tests." in text
        assert "| C1 |" in text and "waiting" in text  # judged over no counting seed: nothing decided
        unnamed = write_runs(out, records, None)
        assert "- SAM-0.1 seed 7 (`SAM-0.1-SAM-0.1-7`): no code: its record names no commit" in "\n".join(
            confirmatory.section(out, unnamed, plan)
        )
    finally:
        import shutil

        shutil.rmtree(out, ignore_errors=True)


def test_a_sam_whose_pgd_gain_autoattack_does_not_confirm_is_flagged(tmp_path):
    write_runs(tmp_path, grid(), "HEAD")
    honest = "\n".join(confirmatory.section(tmp_path, grid(), PLAN))
    assert "No SAM model's gap is significantly larger than ST's." in honest
    masked = "\n".join(confirmatory.section(tmp_path, grid(masked=60), PLAN))
    assert "⚠ Gradient masking suspected: SAM-0.1 (seed 0) at Linf 1/255, standard" in masked
    # over seeds, the primary budget: ST's own gap, then SAM's beside it
    assert "| ST, 8 seeds | Linf 2/255, APGD-CE + APGD-T |" in masked
    assert "| SAM-0.1, 8 seeds (each against ST's same seed) | Linf 2/255, APGD-CE + APGD-T |" in masked


def test_without_a_commit_holding_them_the_tests_read_as_post_hoc(tmp_path):
    records = grid()
    write_runs(tmp_path, records, "HEAD")
    plan = {**PLAN, "name": "not-a-shipped-recipe"}
    assert "read them as post hoc" in confirmatory.section(tmp_path, records, plan)[2]


def at_and_sam(at_seeds, sam_seeds, at_robust=600, sam_robust=50, at_clean=800, sam_clean=900):
    """C3's two models: PGD-10 at Linf 8/255 and clean on N images, per seed (a small seed-to-seed spread)."""
    found = []
    for name, method, seeds, robust, clean in (
        ("AT-Linf-8", "at", at_seeds, at_robust, at_clean),
        ("SAM-0.1", "sam", sam_seeds, sam_robust, sam_clean),
    ):
        for s in seeds:
            pgd = [ev("pgd", "Linf", "8/255", 8 / 255, robust + s % 2, s)]
            found.append(record(name, method, s, clean + s % 3, 0, 0, evaluations=pgd))
    return found


C3_PLAN = {
    "name": "paper-cifar10",
    "scale": "full",
    "primary_tests": {
        "C3": {"models": ["AT-Linf-8", "SAM-0.1"], "attack": "pgd", "norm": "Linf", "eps": "8/255", "images": N}
    },
    "confirmatory_seeds": {"AT-Linf-8": [0, 1], "SAM-0.1": [1, 2]},
}


def test_c3s_primary_test_pairs_the_two_models_confirmatory_seeds_in_order_and_tests_clean_beside_robust(tmp_path):
    records = at_and_sam([0, 1], [0, 1, 2])
    write_runs(tmp_path, records, "HEAD")
    (result,) = confirmatory.primary_results(records, C3_PLAN)
    assert result.configuration == "AT-Linf-8 vs SAM-0.1" and result.verdict == "holds"
    robust, clean = result.comparisons
    # AT's seeds 0 and 1 against SAM's 1 and 2 (paired by number only seed 1 would be in common: no test of methods)
    assert (robust.first, robust.second, robust.seeds) == ("AT-Linf-8", "SAM-0.1", 2) and robust.method_level
    assert (clean.first, clean.second, clean.seeds) == ("SAM-0.1", "AT-Linf-8", 2) and clean.method_level
    assert robust.difference > 0.5 and clean.difference > 0.09
    phrase = result.phrase()
    assert phrase.startswith(f"C3: holds for AT-Linf-8 vs SAM-0.1 (PGD Linf 8/255: {robust.levels()}, +")
    assert f"; clean: {clean.levels()}, +" in phrase
    assert "2 seeds, PGD Linf 8/255 and clean on the first 1,000 test images)" in phrase
    rows = [line for line in confirmatory.section(tmp_path, records, C3_PLAN) if line.startswith("| C3 |")]
    assert len(rows) == 2 and all("**holds**" in row for row in rows)
    assert "AT-Linf-8 − SAM-0.1, PGD Linf 8/255" in rows[0] and "SAM-0.1 − AT-Linf-8, clean" in rows[1]
    # an AT model more accurate than SAM on clean images: the claim's second half does not hold, nor does C3
    (result,) = confirmatory.primary_results(at_and_sam([0, 1], [0, 1, 2], at_clean=950), C3_PLAN)
    assert result.verdict in ("fails", "inconclusive")
    # one confirmatory seed of AT: waiting
    (result,) = confirmatory.primary_results(at_and_sam([0], [0, 1, 2]), C3_PLAN)
    assert result.verdict is None and result.phrase() == (
        "C3: waiting for AT-Linf-8 vs SAM-0.1 (a verdict needs two confirmatory seeds of each)"
    )


def test_the_report_counts_what_fab_t_and_square_flipped_after_apgd_ce_and_apgd_t():
    from sam_bench.report import autoattack_tail

    assert autoattack_tail.section([r for r in grid() if r.seed > 0]) == []  # no standard version to compare
    # 2 more images right after APGD-T than at the end of each standard AutoAttack: FAB-T flipped one, Square one
    lines = autoattack_tail.section(grid(breakdown=True))
    rows = [line for line in lines if line.startswith("| ST (seed 0) |")]
    assert [row.split(" | ")[1] for row in rows] == ["Linf 1/255", "Linf 2/255", "L2 16/255", "L2 32/255"]
    images, after_apgd_t, fab_t, square, final, custom = rows[1].rstrip(" |").split(" | ")[2:8]
    assert (images, fab_t, square, int(after_apgd_t)) == ("500", "1", "1", int(final) + 2)
    # the custom version on the same 500 images left as many right as the standard one at its end, two fewer
    # than the standard one's APGD-T: flagged
    assert custom == f"{final} ⚠"
    assert "FAB-T and Square together flipped 16 images over 8 standard evaluations" in "\n".join(lines)
    assert any(line.startswith("⚠ The custom version's count differs") for line in lines)
