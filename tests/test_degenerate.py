"""Degenerate models are flagged, and no verdict rests on them."""

from run_records import run_record

from sam_bench.evaluation.degenerate import diagnose, of_results
from sam_bench.report.claims import verdicts
from sam_bench.report.records import seconds_per_epoch


def test_near_chance_or_one_class_is_degenerate():
    assert not diagnose(0.35, 10, [10, 12, 9, 8, 11, 10, 9, 11, 10, 10])["degenerate"]
    near = diagnose(0.0938, 10)
    assert near["degenerate"] and "near chance (10%)" in near["reasons"][0]
    constant = diagnose(0.1094, 10, [0] * 8 + [64, 0])  # the smoke AT model of issue 16
    assert (
        constant["degenerate"] and constant["top_class"] == 8 and "predicts class 8 for 100%" in constant["reasons"][-1]
    )
    assert diagnose(0.20, 10, [60, 40] + [0] * 8)["reasons"] == ["predicts class 0 for 60% of the images"]
    assert not diagnose(0.02, 100)["degenerate"] and diagnose(0.014, 100)["degenerate"]  # 1.5x chance for 100 classes
    older = {"clean_acc": 0.09, "dataset": {"name": "cifar10"}, "model": {"arch": {"num_classes": 10}}}
    assert of_results(older)["degenerate"]  # results written before the field: judged from clean accuracy


def test_the_diagnosis_a_results_file_states_is_not_read_but_made_again():
    """An edited `degenerate: false` does not lift the flag off a model at chance, nor an edited true put one on a
    healthy model: the diagnosis comes from the clean accuracy (derived from the outcomes) and the predictions."""
    healthy = {"degenerate": "x", "reasons": [], "chance": 0.1, "top_class": None, "top_class_share": None}
    at_chance = {"clean_acc": 0.11, "clean_prediction_counts": [10] * 10, "dataset": {"name": "cifar10"}}
    assert of_results({**at_chance, "degenerate": {**healthy, "degenerate": False}})["degenerate"]
    fine = {"clean_acc": 0.6, "clean_prediction_counts": [10] * 10, "dataset": {"name": "cifar10"}}
    flagged = {**healthy, "degenerate": True, "reasons": ["edited"]}
    assert not of_results({**fine, "degenerate": flagged})["degenerate"]
    one_class = {"clean_acc": 0.3, "clean_prediction_counts": [70] + [3] * 10, "dataset": {"name": "cifar10"}}
    assert of_results(one_class)["reasons"] == ["predicts class 0 for 70% of the images"]


def record(name, method, clean, pgd=None, degenerate=None, epochs=(10.0, 5.0, 5.0), n=10_000, seed=0, **config):
    """A results record without per-image outcomes (as written before they existed): unpaired tests."""
    evaluations = [
        {"attack": "pgd", "norm": n_, "eps": e, "eps_value": v, "robust_acc": a, "n_examples": n}
        for (n_, e, v), a in (pgd or {}).items()
    ]
    return run_record(
        {
            "name": name,
            "seed": seed,
            "primary": seed == 0,
            "config": {"method": method, **config},
            "degenerate": degenerate,
            "results": {"clean_acc": clean, "evaluations": evaluations, "dataset": {"n_examples": n}},
            "epoch_seconds": epochs,
        }
    )


L1 = ("Linf", "1/255", 1 / 255)


def test_a_verdict_resting_on_a_degenerate_model_is_inconclusive():
    st = record("ST", "standard", 0.0938, {L1: 0.05}, degenerate="clean accuracy 9.4% is near chance (10%)")
    sam = record("SAM", "sam", 0.35, {L1: 0.30}, epochs=(10.0, 10.0, 10.0))
    at = record(
        "AT",
        "at",
        0.109,
        {L1: 0.109},
        degenerate="predicts class 8 for 100% of the images",
        attack_norm="Linf",
        attack_eps="1/255",
        attack_steps=2,
        epochs=(20.0, 15.0, 15.0),
    )
    cost = {
        "models": [
            {
                "name": "AT",
                "key": "AT-key",
                "baseline": "ST",
                "passes_per_step": 3,
                "baseline_passes_per_step": 1,
                "ratio": {"runs": [3.0] * 10, "median": 3.0, "low": 2.8, "high": 3.2},
            }
        ]
    }
    by_claim = {v["claim"]: v for v in verdicts([st, sam, at], cost)}
    for claim in ("C1", "C2", "C3"):
        assert by_claim[claim]["verdict"].startswith("inconclusive"), claim
        assert by_claim[claim]["reason"] == "every comparison involves a degenerate model"
        assert "is degenerate" in by_claim[claim]["evidence"][0]
    # C4 is about cost: a degenerate model's step costs what it costs
    c4 = {v["configuration"]: v for v in verdicts([st, sam, at], cost) if v["claim"] == "C4"}
    assert c4["AT"]["verdict"] == "holds" and c4["SAM"]["verdict"] == "inconclusive"
    assert seconds_per_epoch(st) == 5.0


def test_healthy_models_are_judged_as_before():
    records = []
    for seed, jitter in enumerate((0.0, 0.01, 0.0)):
        records += [
            record("ST", "standard", 0.60 + jitter, {L1: 0.30 + jitter}, seed=seed),
            record("SAM", "sam", 0.62 + jitter, {L1: 0.35 + jitter}, seed=seed),
        ]
    by_claim = {v["claim"]: v for v in verdicts(records)}
    assert by_claim["C1"]["verdict"] == "holds" and by_claim["C2"]["verdict"] == "holds"
