"""The paper's claims are judged by paired tests over test images and training seeds
(sam_bench/claims.py): significant, the other way, or not enough evidence, and the report says why."""
import numpy as np

from sam_bench import outcomes
from sam_bench.claims import C1_MARGIN, compare, verdicts

N = 1000
BUDGETS = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]


def flags(correct: int, shift: int = 0) -> np.ndarray:
    """`correct` of N images right: images shift .. shift+correct-1 (so two vectors overlap by design)."""
    out = np.zeros(N, bool)
    out[shift:shift + correct] = True
    return out


def record(name, method, seed, clean, robust, **config):
    """clean: correct-flags; robust: {budget: correct-flags} (PGD)."""
    evaluations = [{"attack": "pgd", "norm": norm, "eps": eps, "eps_value": 0.0 if eps == "0" else eval(eps),
                    "robust_acc": float(v.mean()), "n_examples": N, "outcomes": outcomes.encode(v)}
                   for (norm, eps), v in robust.items()]
    return {"name": name, "seed": seed, "config": {"method": method, "seed": seed, **config}, "degenerate": None,
            "training": {}, "epoch_seconds": [],
            "results": {"clean_acc": float(clean.mean()), "clean_outcomes": outcomes.encode(clean),
                        "dataset": {"n_examples": N}, "evaluations": evaluations}}


def pair(st_robust: int, sam_robust: int, seed: int = 0, st_clean: int = 600, sam_clean: int = 600):
    st = record("ST", "standard", seed, flags(st_clean), {b: flags(st_robust) for b in BUDGETS})
    sam = record("SAM-0.1", "sam", seed, flags(sam_clean), {b: flags(sam_robust) for b in BUDGETS})
    return st, sam


def by_claim(records):
    return {v["claim"]: v for v in verdicts(records)}


def test_a_significant_gain_at_every_budget_holds():
    st, sam = pair(st_robust=300, sam_robust=360)  # SAM gets 60 more images right, ST none that SAM misses
    c2 = by_claim([st, sam])["C2"]
    assert c2["verdict"] == "holds" and "Holm over 4 comparisons" in c2["reason"]
    assert "exact McNemar on 1,000 image pairs (1 seed; 60 only SAM-0.1, 0 only ST)" in c2["evidence"][0]
    assert c2["evidence"][0].startswith("SAM-0.1 − ST, PGD Linf 1/255: +6.00 points [")


def test_a_significant_loss_fails_and_a_small_gain_is_inconclusive():
    st, sam = pair(st_robust=360, sam_robust=300)
    c2 = by_claim([st, sam])["C2"]
    assert c2["verdict"] == "fails" and c2["reason"].startswith("significantly the other way: SAM-0.1 vs ST")
    st, sam = pair(st_robust=300, sam_robust=303)  # 3 images: p = 0.25
    c2 = by_claim([st, sam])["C2"]
    assert c2["verdict"] == "inconclusive" and c2["reason"].startswith("not significant at p < 0.05")


def test_seeds_must_agree_before_a_difference_is_called():
    # Pooled over 3 seeds SAM is ahead by 70 images (McNemar p < 0.001), but the seeds disagree:
    # +6, -4, +5 points. The t-test over seeds cannot call that, so the claim is inconclusive.
    records = []
    for seed, (a, b) in enumerate([(300, 360), (340, 300), (300, 350)]):
        records += pair(a, b, seed)
    comparison = compare([r for r in records if r["name"] == "SAM-0.1"], [r for r in records if r["name"] == "ST"],
                         ("pgd", "Linf", "1/255"))
    assert "3 seeds" in comparison.tests[0] and comparison.tests[1].startswith("t-test over 3 seeds")
    assert abs(comparison.difference - 0.0233) < 1e-3 and comparison.p_value > 0.05
    assert by_claim(records)["C2"]["verdict"] == "inconclusive"
    # consistent seeds: +6, +5, +6 points
    records = []
    for seed, (a, b) in enumerate([(300, 360), (310, 360), (300, 360)]):
        records += pair(a, b, seed)
    assert by_claim(records)["C2"]["verdict"] == "holds"


def test_c1_is_a_noninferiority_test_with_a_half_point_margin():
    # Equal accuracy, 2 discordant images each way: the paired z statistic against -0.5 points is
    # 0.005 / sqrt(4 / 1000 / 1000) = 2.5 (p = 0.006): non-inferior
    st = record("ST", "standard", 0, flags(600, shift=0), {})
    sam = record("SAM-0.1", "sam", 0, flags(600, shift=2), {})
    c1 = by_claim([st, sam])["C1"]
    assert c1["verdict"] == "holds" and "paired z test against −0.5 points" in c1["evidence"][0]
    # 20 discordant each way: z = 1.12 (p = 0.13): not enough to rule out a 0.5-point loss
    sam = record("SAM-0.1", "sam", 0, flags(600, shift=20), {})
    assert by_claim([st, sam])["C1"]["verdict"] == "inconclusive"
    # 5 points worse: the whole interval lies below -0.5 points
    sam = record("SAM-0.1", "sam", 0, flags(550), {})
    c1 = compare([sam], [st], ("clean",), margin=C1_MARGIN)
    assert c1.high < -C1_MARGIN and by_claim([st, sam])["C1"]["verdict"] == "fails"


def test_c3_tests_robustness_and_clean_accuracy_of_at_against_sam():
    st, sam = pair(300, 300)
    at = record("AT-Linf-2", "at", 0, flags(500), {("Linf", "2/255"): flags(450)},
                attack_norm="Linf", attack_eps="2/255", attack_steps=5)
    sam["results"]["evaluations"].append({**sam["results"]["evaluations"][1]})  # SAM has Linf 2/255 (300 right)
    c3 = by_claim([st, sam, at])["C3"]
    assert c3["verdict"] == "holds" and "Holm over 2 comparisons" in c3["reason"]
    assert c3["evidence"][0].startswith("AT-Linf-2 − SAM-0.1, PGD Linf 2/255: +15.00 points")
    assert c3["evidence"][1].startswith("SAM-0.1 − AT-Linf-2, clean: +10.00 points")


def test_results_without_per_image_outcomes_get_a_conservative_unpaired_test():
    st, sam = pair(300, 360)
    for r in (st, sam):
        del r["results"]["clean_outcomes"]
        for ev in r["results"]["evaluations"]:
            del ev["outcomes"]
    comparison = compare([sam], [st], ("pgd", "Linf", "1/255"))
    assert comparison.tests[0].startswith("unpaired Fisher exact test (no per-image outcomes recorded")
    paired = compare(*[[r] for r in pair(300, 360)[::-1]], ("pgd", "Linf", "1/255"))
    assert comparison.p_value > paired.p_value  # ignoring the pairing only loses evidence


def test_a_grid_over_architectures_is_judged_per_architecture():
    from sam_bench.claims import by_architecture, sam_gain

    prn = list(pair(300, 360))
    vit = [record("ViT-ST", "standard", 0, flags(600), {b: flags(300) for b in BUDGETS},
                  arch="timm:vit_tiny_patch16_224", arch_kwargs={"depth": 4}),
           record("ViT-SAM-0.1", "sam", 0, flags(600), {b: flags(290) for b in BUDGETS},
                  arch="timm:vit_tiny_patch16_224", arch_kwargs={"depth": 4})]
    for r in prn:
        r["config"].update(arch="preactresnet18", width=0.125)
    split = by_architecture(prn + vit)
    assert list(split) == ["PreActResNet-18 (width x0.125)", "vit_tiny_patch16_224 (depth=4)"]
    assert by_claim(split["PreActResNet-18 (width x0.125)"])["C2"]["verdict"] == "holds"
    assert by_claim(split["vit_tiny_patch16_224 (depth=4)"])["C2"]["verdict"] == "fails"  # 10 images, all one way
    gain = sam_gain(split["vit_tiny_patch16_224 (depth=4)"], "Linf", "1/255")
    assert abs(gain.difference + 0.01) < 1e-9 and gain.low < -0.01 < gain.high


def test_each_architecture_costs_against_its_own_st():
    from sam_bench.claims import cost_against_st

    prn = list(pair(300, 360))
    vit = [record("ViT-ST", "standard", 0, flags(600), {}, arch="timm:vit_tiny_patch16_224"),
           record("ViT-SAM-0.1", "sam", 0, flags(600), {}, arch="timm:vit_tiny_patch16_224")]
    for r, seconds in zip(prn + vit, [10.0, 20.0, 40.0, 80.0]):
        r["epoch_seconds"] = [99.0, seconds]  # the first epoch (start-up) does not count
    assert cost_against_st(prn + vit) == [1.0, 2.0, 1.0, 2.0]  # not 4 and 8 against PreActResNet's ST
