"""The paper's claims are judged one configuration at a time (sam_bench/report/claims.py): training methods
over seeds and test images, one-sided tests in the claimed direction, an intersection-union rule for
"holds", Holm for "fails", and every "inconclusive" says what effect the design could have detected."""

import numpy as np
import pytest
from run_records import run_record
from scipy.stats import t

from sam_bench.evaluation import outcomes
from sam_bench.report.claims import C1_MARGIN, cost_verdict, headline, verdicts
from sam_bench.report.comparison import compare
from sam_bench.stats import inference

N = 1000
BUDGETS = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]


def flags(correct: int, shift: int = 0) -> np.ndarray:
    """`correct` of N images right: images shift .. shift+correct-1 (so two vectors overlap by design)."""
    out = np.zeros(N, bool)
    out[shift : shift + correct] = True
    return out


def record(name, method, seed, clean, robust, kept=True, epoch_seconds=(), **config):
    """clean: correct-flags; robust: {budget: correct-flags} (PGD); `kept`: with per-image outcomes (without:
    as results written before they were recorded)."""
    evaluations = [
        {
            "attack": "pgd",
            "norm": norm,
            "eps": eps,
            "eps_value": 0.0 if eps == "0" else eval(eps),
            "robust_acc": float(v.mean()),
            "n_examples": N,
            **({"outcomes": outcomes.encode(v)} if kept else {}),
        }
        for (norm, eps), v in robust.items()
    ]
    return run_record(
        {
            "name": name,
            "seed": seed,
            "primary": seed == 0,
            "config": {"method": method, **config},
            "epoch_seconds": epoch_seconds,
            "results": {
                "clean_acc": float(clean.mean()),
                **({"clean_outcomes": outcomes.encode(clean)} if kept else {}),
                "dataset": {"n_examples": N},
                "evaluations": evaluations,
            },
        }
    )


def pair(
    st_robust: int,
    sam_robust: int,
    seed: int = 0,
    st_clean: int = 600,
    sam_clean: int = 600,
    name="SAM-0.1",
    **settings,
):
    """ST and SAM of one seed; `settings`: `record`'s `kept` and training settings, for both."""
    st = record("ST", "standard", seed, flags(st_clean), {b: flags(st_robust) for b in BUDGETS}, **settings)
    sam = record(name, "sam", seed, flags(sam_clean), {b: flags(sam_robust) for b in BUDGETS}, **settings)
    return st, sam


def seeds(*robust_pairs, **kwargs):
    """Records of ST and SAM over several seeds: (ST correct, SAM correct) per seed."""
    out = []
    for seed, (a, b) in enumerate(robust_pairs):
        out += pair(a, b, seed, **kwargs)
    return out


def by_claim(records, cost=None):
    return {(v["claim"], v["configuration"]): v for v in verdicts(records, cost)}


def test_a_consistent_gain_over_seeds_and_images_holds():
    c2 = by_claim(seeds((300, 360), (310, 360), (300, 360)))[("C2", "SAM-0.1")]  # +6, +5, +6 points
    assert c2["verdict"] == "holds" and "intersection-union test, no multiplicity correction" in c2["reason"]
    # the two models' levels first (their means over the seeds), then the difference
    assert c2["evidence"][0].startswith("SAM-0.1 − ST, PGD Linf 1/255: ST 30.33% → SAM-0.1 36.00%, +5.67 points [")
    assert "3 seeds × 1,000 images (standard error" in c2["evidence"][0]
    assert "one-sided p = 0.00" in c2["evidence"][0] and "against SAM-0.1 ≤ ST" in c2["evidence"][0]


def test_one_seed_gives_no_verdict_on_the_method():
    # 60 images only SAM gets right, none only ST: the trained models differ (McNemar p < 0.001), but
    # with one seed the seed-to-seed variation is unknown, so the method is not judged
    c2 = by_claim(list(pair(300, 360)))[("C2", "SAM-0.1")]
    assert c2["verdict"] == "inconclusive"
    assert c2["reason"].startswith("one training seed in common: what these trained models do, not their methods")
    # what is missing is a second seed, not power ("80% power needs > +2.67" beside an observed +36.2 answers nothing)
    assert "what is missing is a second seed" in c2["reason"] and "power" not in c2["reason"]
    assert (
        "one training seed: these two trained models, exact McNemar on 1,000 images (60 only SAM-0.1, 0 only ST):"
        " one-sided p < 0.001"
    ) in c2["evidence"][0]


def test_seeds_must_agree_before_a_difference_is_called():
    # Pooled over 3 seeds SAM is ahead by 70 images, but the seeds disagree: +6, -4, +5 points
    records = seeds((300, 360), (340, 300), (300, 350))
    comparison = compare(
        [r for r in records if r.name == "SAM-0.1"],
        [r for r in records if r.name == "ST"],
        ("pgd", "Linf", "1/255"),
    )
    assert comparison.seeds == 3 and abs(comparison.difference - 0.0233) < 1e-3 and comparison.p_value > 0.05
    c2 = by_claim(records)[("C2", "SAM-0.1")]
    assert c2["verdict"] == "inconclusive" and c2["reason"].startswith(
        "not significant at one-sided p < 0.05: PGD Linf 1/255 (p = "
    )
    # what is missing, per comparison: the seeds dominate here, and how many would settle it
    assert "the seeds carry most of its standard error; about " in c2["reason"]
    assert "seeds on these 1,000 images would detect the observed +2.33 points with 80% power" in c2["reason"]
    standard_error = (comparison.high - comparison.difference) / t.ppf(0.975, 2)
    assert 3.9 < comparison.detectable / standard_error < 4.1  # with 2 df, about 4 standard errors


def test_a_loss_within_the_noise_is_not_said_to_want_more_seeds_to_be_detected():
    # SAM behind by a few images on every seed, not significantly: more seeds could never show it ahead
    c2 = by_claim(seeds((350, 340), (350, 345), (350, 330)))[("C2", "SAM-0.1")]
    assert c2["verdict"] == "inconclusive" and "not significant" in c2["reason"]
    assert "lies on the other side of the null from the tested direction" in c2["reason"]
    assert "would detect the observed" not in c2["reason"]


def test_a_significant_loss_fails_and_directions_are_one_sided():
    c2 = by_claim(seeds((360, 300), (360, 310), (360, 300)))[("C2", "SAM-0.1")]
    assert c2["verdict"] == "fails" and c2["reason"].startswith(
        "significantly the other way (one-sided p < 0.05, Holm over 4"
    )
    # SAM clearly better at three budgets, no better at the fourth: the claim needs all four, and a
    # "not better" is not a "worse": inconclusive, naming only the budget that fell short
    records = []
    for seed, (st_robust, sam_robust) in enumerate([(300, 360), (310, 360), (300, 360)]):
        st, _ = pair(st_robust, sam_robust, seed)
        last = {b: flags(300 if b == ("L2", "32/255") else sam_robust) for b in BUDGETS}
        records += [st, record("SAM-0.1", "sam", seed, flags(600), last)]
    c2 = by_claim(records)[("C2", "SAM-0.1")]
    assert c2["verdict"] == "inconclusive" and c2["reason"].count("(p = ") == 1 and "PGD L2 32/255" in c2["reason"]


def test_c1_is_a_noninferiority_test_with_a_one_point_margin():
    assert C1_MARGIN == 0.01
    # Equal clean accuracy over 3 seeds, a few images changing hands: within 1 point, shown
    st = [record("ST", "standard", s, flags(600 + s), {}) for s in range(3)]
    sam = [record("SAM-0.1", "sam", s, flags(600 - s, shift=2), {}) for s in range(3)]
    c1 = by_claim(st + sam)[("C1", "SAM-0.1")]
    assert c1["verdict"] == "holds" and "against SAM-0.1 ≤ ST − 1 points" in c1["evidence"][0]
    # 5 points worse on every seed: significantly more than the margin below
    sam = [record("SAM-0.1", "sam", s, flags(550 - s), {}) for s in range(3)]
    assert by_claim(st + sam)[("C1", "SAM-0.1")]["verdict"] == "fails"
    # seeds that disagree by several points: inconclusive, with what 80% power would need
    sam = [record("SAM-0.1", "sam", s, flags(c), {}) for s, c in enumerate((640, 560, 610))]
    c1 = by_claim(st + sam)[("C1", "SAM-0.1")]
    assert c1["verdict"] == "inconclusive" and "seeds on these 1,000 images would detect" in c1["reason"]
    assert "significantly below" not in c1["reason"]


def test_c1_states_the_direction_when_it_is_significant_and_the_margin_is_not():
    """SAM-0.1 0.7 points below ST on each of 5 seeds: significantly below, but not by more than the 1-point
    margin: the reason says which way it is significant, not only "inconclusive"."""
    st = [record("ST", "standard", s, flags(600 + s), {}) for s in range(5)]
    sam = [record("SAM-0.1", "sam", s, flags(593 + s, shift=s % 2), {}) for s in range(5)]
    c1 = by_claim(st + sam)[("C1", "SAM-0.1")]
    assert c1["verdict"] == "inconclusive"
    assert (
        "SAM-0.1 is significantly below ST (one-sided p = 0.001); whether by more than the 1-point margin"
        in (c1["reason"])
    )
    assert "the images carry most of its standard error" in c1["reason"]
    assert "seeds 0.00, images 0.22, residual 0.07, in quadrature; t, 999.0 df" in c1["evidence"][0]


def test_each_configuration_is_its_own_family():
    # SAM-0.1 holds; a SAM-0.4 that loses robustness beside it fails on its own and changes nothing for SAM-0.1
    records = seeds((300, 360), (310, 360), (300, 360))
    alone = by_claim(records)[("C2", "SAM-0.1")]
    records += [record("SAM-0.4", "sam", s, flags(600), {b: flags(250) for b in BUDGETS}) for s in range(3)]
    judged = by_claim(records)
    assert judged[("C2", "SAM-0.1")]["verdict"] == alone["verdict"] == "holds"
    assert judged[("C2", "SAM-0.1")]["reason"] == alone["reason"]
    assert judged[("C2", "SAM-0.4")]["verdict"] == "fails"
    lines = headline(verdicts(records))
    assert "C2: holds for SAM-0.1; fails for SAM-0.4" in lines


def test_c3_tests_each_at_model_against_each_sam_model():
    records = seeds((300, 300), (300, 300), (300, 300))
    for s in range(3):
        at = record(
            "AT-Linf-2",
            "at",
            s,
            flags(500 + s),
            {("Linf", "2/255"): flags(450 - s)},
            attack_norm="Linf",
            attack_eps="2/255",
            attack_steps=5,
        )
        records.append(at)
    c3 = by_claim(records)[("C3", "AT-Linf-2 vs SAM-0.1")]
    assert c3["verdict"] == "holds"
    robust, clean = c3["comparisons"]
    assert c3["evidence"][0].startswith(f"AT-Linf-2 − SAM-0.1, PGD Linf 2/255: {robust.levels()}, +14.90 points")
    assert c3["evidence"][1].startswith(f"SAM-0.1 − AT-Linf-2, clean: {clean.levels()}, +9.90 points")
    assert robust.levels().startswith("SAM-0.1 ") and clean.levels().startswith("AT-Linf-2 ")


def test_results_without_per_image_outcomes_get_a_conservative_test():
    records = seeds((300, 360), (310, 360), (300, 360))
    paired = compare(*[[r for r in records if r.name == n] for n in ("SAM-0.1", "ST")], ("pgd", "Linf", "1/255"))
    records = seeds((300, 360), (310, 360), (300, 360), kept=False)
    bounded = compare(*[[r for r in records if r.name == n] for n in ("SAM-0.1", "ST")], ("pgd", "Linf", "1/255"))
    assert bounded.difference == pytest.approx(paired.difference)
    assert bounded.high - bounded.low > paired.high - paired.low  # the images' share bounded, not measured
    one = compare(
        *[[r for r in records if r.name == n and r.seed == 0] for n in ("SAM-0.1", "ST")],
        ("pgd", "Linf", "1/255"),
    )
    assert "unpaired Fisher exact test (no per-image outcomes recorded; conservative)" in one.tests[0]


def test_c4_rests_on_the_cost_measurement():
    st, sam = pair(300, 300)

    def cost(low, median, high, key="SAM-0.1-key"):
        return {
            "models": [
                {
                    "name": "SAM-0.1",
                    "key": key,
                    "baseline": "ST",
                    "passes_per_step": 2,
                    "baseline_passes_per_step": 1,
                    "ratio": {"runs": [median] * 10, "median": median, "low": low, "high": high},
                }
            ]
        }

    group = [sam]
    assert cost_verdict(group, [st], cost(1.8, 1.9, 2.1))["verdict"] == "holds"
    assert cost_verdict(group, [st], cost(2.9, 3.0, 3.2))["verdict"] == "fails"
    straddling = cost_verdict(group, [st], cost(1.2, 1.5, 1.9))
    assert straddling["verdict"] == "inconclusive" and "straddles an edge of the band 1.30–2.70" in straddling["reason"]
    stale = cost_verdict(group, [st], cost(1.8, 1.9, 2.1, key="other-settings"))
    assert stale["verdict"] == "inconclusive" and "no cost measurement of this model's settings" in stale["reason"]
    assert by_claim([st, sam])[("C4", "SAM-0.1")]["reason"].startswith(
        "no cost measurement"
    )  # training logs are no evidence
    assert cost_verdict(group, [st], cost(1.8, 1.9, 2.1))["evidence"][0].startswith(
        "SAM-0.1: 1.90x ST per step, 95% interval [1.80, 2.10] over 10 interleaved rounds (expected about 2x"
    )


def test_c4_is_not_decided_by_six_one_step_timing_rounds():
    """The quick start's `sam-bench cost --rounds 6 --steps 1` does not decide C4 ("holds"): with fewer than
    9 rounds the 95% interval of the median is the range of the rounds, which one disturbed round sets."""
    st, sam = pair(300, 300)
    runs = [1.90, 2.00, 2.05, 1.95, 2.10, 1.98]
    median, low, high = inference.median_interval(runs)
    assert (low, high) == (min(runs), max(runs))  # the whole range
    cost = {
        "settings": {"rounds": 6, "steps": 1},
        "models": [
            {
                "name": "SAM-0.1",
                "key": "SAM-0.1-key",
                "baseline": "ST",
                "ratio": {"runs": runs, "median": median, "low": low, "high": high},
            }
        ],
    }
    verdict = cost_verdict([sam], [st], cost)
    assert verdict["verdict"] == "inconclusive"
    assert verdict["reason"].startswith("6 timing rounds of 1 step each are too few to decide")
    assert "--rounds 9" in verdict["reason"]
    assert verdict["evidence"][0].startswith("SAM-0.1: 1.99x ST per step, 95% interval [1.90, 2.10] over 6")
    more = {**cost, "models": [{**cost["models"][0], "ratio": {**cost["models"][0]["ratio"], "runs": runs + runs[:3]}}]}
    assert cost_verdict([sam], [st], more)["verdict"] == "holds"  # nine rounds decide


def test_a_grid_over_architectures_is_judged_per_architecture():
    from sam_bench.report.claims import sam_gain
    from sam_bench.report.records import by_architecture

    prn = seeds((300, 360), (310, 360), (300, 360), arch="preactresnet18", width=0.125)
    vit = []
    for s in range(3):
        vit += [
            record(
                "ViT-ST",
                "standard",
                s,
                flags(600),
                {b: flags(300) for b in BUDGETS},
                arch="timm:vit_tiny_patch16_224",
                arch_kwargs={"depth": 4},
            ),
            record(
                "ViT-SAM-0.1",
                "sam",
                s,
                flags(600),
                {b: flags(290 - s) for b in BUDGETS},
                arch="timm:vit_tiny_patch16_224",
                arch_kwargs={"depth": 4},
            ),
        ]
    split = by_architecture(prn + vit)
    assert list(split) == ["PreActResNet-18 (width x0.125)", "vit_tiny_patch16_224 (depth=4)"]
    assert by_claim(split["PreActResNet-18 (width x0.125)"])[("C2", "SAM-0.1")]["verdict"] == "holds"
    assert by_claim(split["vit_tiny_patch16_224 (depth=4)"])[("C2", "ViT-SAM-0.1")]["verdict"] == "fails"
    gain = sam_gain(split["vit_tiny_patch16_224 (depth=4)"], "Linf", "1/255")
    assert abs(gain.difference + 0.011) < 1e-9 and gain.low < -0.011 < gain.high


def test_each_architecture_costs_against_its_own_st():
    from sam_bench.report.records import cost_against_st

    runs = [
        ("ST", "standard", "preactresnet18", 10.0),
        ("SAM-0.1", "sam", "preactresnet18", 20.0),
        ("ViT-ST", "standard", "timm:vit_tiny_patch16_224", 40.0),
        ("ViT-SAM-0.1", "sam", "timm:vit_tiny_patch16_224", 80.0),
    ]
    # the first epoch (99 s: start-up) does not count
    records = [record(n, m, 0, flags(600), {}, epoch_seconds=[99.0, t], arch=arch) for n, m, arch, t in runs]
    assert cost_against_st(records) == [1.0, 2.0, 1.0, 2.0]  # not 4 and 8 against PreActResNet's ST
