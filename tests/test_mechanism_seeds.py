"""The Mechanism section's predictions over training seeds: a method-level verdict from the
spread between seeds, which one analysed model per method cannot give."""

import hashlib
import json

import numpy as np
import pytest
from test_mechanism import analysis, run

from sam_bench.report import mechanism, mechanism_seeds


def seeded(name, method, seed, eigenvalue, high_pass, alignment, robust=100):
    """One analysed model of `name` trained with `seed`: its run record and analysis record."""
    sha = hashlib.sha256(f"{name}:{seed}".encode()).hexdigest()
    noise = np.random.default_rng(seed).normal(0, 0.01, 200)
    return run(name, method, sha, robust, seed), analysis(
        sha, [eigenvalue * f for f in (0.9, 1.1, 1.0, 1.0)], high_pass, alignment + noise
    )


def grid(st_eigen, sam_eigen, at_seeds=3):
    """ST and SAM-0.1 over len(st_eigen) seeds (these top eigenvalues), AT-Linf-2 over `at_seeds`."""
    pairs = [seeded("ST", "standard", s, e, 300 - s, 0.45, 100 + s) for s, e in enumerate(st_eigen)]
    pairs += [seeded("SAM-0.1", "sam", s, e, 250 - s, 0.50, 150 + s) for s, e in enumerate(sam_eigen)]
    pairs += [seeded("AT-Linf-2", "at", s, 25, 100 + s, 0.60 + 0.01 * s, 250 + s) for s in range(at_seeds)]
    return pairs


def by_prediction(tests):
    """Keyed by the prediction without its measure in brackets, except flatness, which has two measures."""
    return {
        (t["prediction"] if "flatter" in t["prediction"] else t["prediction"].split(" (")[0], t["comparison"]): t
        for t in tests
    }


def test_a_consistent_difference_over_seeds_holds_for_the_method():
    tests = by_prediction(mechanism_seeds.predictions(grid([100, 110, 95, 105], [55, 60, 50, 58]), 8.0))
    flatter = tests[("flatter than ST (top Hessian eigenvalue)", "SAM-0.1 − ST")]
    assert flatter["verdict"] == "holds" and flatter["seeds"] == (4, 4)
    assert flatter["difference"] == pytest.approx(np.mean([55, 60, 50, 58]) - np.mean([100, 110, 95, 105]))
    assert tests[("less high-frequency reliance than ST", "SAM-0.1 − ST")]["verdict"] == "holds"
    assert tests[("input gradients more aligned with the image than ST's", "SAM-0.1 − ST")]["verdict"] == "holds"
    assert tests[("more high-frequency reliance than AT", "SAM-0.1 − AT-Linf-2")]["verdict"] == "holds"
    assert tests[("input gradients less aligned with the image than AT's", "SAM-0.1 − AT-Linf-2")]["seeds"] == (4, 3)


def test_a_first_seed_pair_that_differs_is_not_a_method_that_does():
    """The first seeds' models differ clearly (paired over batches: holds), but the seeds spread as widely as the
    methods differ: over seeds the verdict is inconclusive."""
    st, sam = [100, 40, 160, 70], [55, 150, 60, 120]
    pairs = grid(st, sam)
    one_each = [t for t in mechanism.predictions(pairs) if t["prediction"].startswith("flatter than ST (top")]
    assert [t["verdict"] for t in one_each] == ["holds"]
    over_seeds = by_prediction(mechanism_seeds.predictions(pairs, 8.0))[
        ("flatter than ST (top Hessian eigenvalue)", "SAM-0.1 − ST")
    ]
    assert over_seeds["verdict"] == "inconclusive"


def test_welch_agrees_with_statsmodels():
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    x, y = [55.0, 60.0, 50.0, 58.0, 49.0], [100.0, 110.0, 95.0]
    found = mechanism_seeds.welch(x, y, "less")
    compare = CompareMeans(DescrStatsW(np.array(x)), DescrStatsW(np.array(y)))
    low, high = compare.tconfint_diff(alpha=0.05, usevar="unequal")
    _, p, _ = compare.ttest_ind(alternative="smaller", usevar="unequal")
    assert (found["low"], found["high"], found["p"]) == pytest.approx((low, high, p), rel=1e-9)


def test_one_analysed_seed_gives_no_method_level_test():
    tests = mechanism_seeds.predictions(grid([100], [55], at_seeds=1), 8.0)
    assert tests == [] and mechanism_seeds.table(tests) == []
    only_at_short = by_prediction(mechanism_seeds.predictions(grid([100, 90], [55, 50], at_seeds=1), 8.0))
    assert (
        not [k for k in only_at_short if "AT-Linf-2" in k[1]]
        and ("flatter than ST (top Hessian eigenvalue)", "SAM-0.1 − ST") in only_at_short
    )


def test_the_section_shows_the_seed_level_table_and_says_it_in_its_sentence(tmp_path):
    pairs = grid([100, 110, 95, 105], [55, 60, 50, 58])
    (tmp_path / "analysis").mkdir()
    for _, a in pairs:
        (tmp_path / "analysis" / f"{a['model']['weights_sha256']}.json").write_text(json.dumps(a))
    text = "\n".join(mechanism.section(tmp_path, [r for r, _ in pairs]))
    assert "**Over training seeds (the methods, not single models).**" in text
    row = "| PreActResNet-18 (width x0.125) | flatter than ST (top Hessian eigenvalue) | SAM-0.1 − ST | 4 vs 4 |"
    assert row in text
    assert "over training seeds, the SAM method gives flatter models than ST in 1 of 1 comparison" in text
