"""Results records for tests that choose the numbers: `complete` fills in what a results file of
`sam-bench evaluate` always holds (sam_bench/schemas/eval-results.schema.json) around the fields a
test sets, so that the record passes the checks where results enter (sam_bench/evaluation/results_file.py).
Every accuracy a board shows is derived from per-image outcomes (sam_bench/evaluation/results_record.py), so
`zoo_results` records outcomes that give the chosen numbers (each rounded to a whole count of images) and
`written` puts a record in a file, as a board names the file its figures come from."""

import json
from pathlib import Path

from sam_bench.data import FINGERPRINTS
from sam_bench.evaluation import outcomes

SETTINGS = {
    "pgd": {"steps": 10, "step_size": 0.001, "restarts": 1, "random_start": True, "loss": "ce", "seed": 0},
    "autoattack": {"version": "standard", "attacks": ["apgd-ce", "apgd-t", "fab-t", "square"], "seed": 0},
}


def complete(record: dict, entry: dict | None = None) -> dict:
    """`record` with every field the schema requires; its data set's sha256 is the zoo entry's
    training data's when the record names that data set (as a real evaluation's is)."""
    for ev in record["evaluations"]:
        ev["settings"] = {**SETTINGS.get(ev["attack"], {}), **ev.get("settings", {})}
        ev.setdefault("attack_reported_acc", ev["robust_acc"] if ev["attack"] == "autoattack" else None)
        ev.setdefault("per_class_robust_acc", [ev["robust_acc"]])
        ev.setdefault("breakdown", {"clean": ev["clean_acc"]} if ev["attack"] == "autoattack" else None)
        ev.setdefault("max_perturbation", ev["eps_value"])
        ev.setdefault("seconds", 1.0)
        ev.setdefault("chunks", {"size": ev["n_examples"], "count": 1, "resumed": 0})
    record["model"].setdefault("training", None)
    record.setdefault("warnings", [])
    record["environment"] = {
        "sam_bench_version": "0.1.0",
        "torch_version": "2.13.0",
        "device": "cpu",
        "device_name": "cpu",
        "code_commit": None,
        **record.get("environment", {}),
    }
    trained = ((entry or {}).get("training") or {}).get("dataset") or {}
    if trained.get("name") == record["dataset"]["name"]:
        record["dataset"]["sha256"] = trained["sha256"]
    return record


def first_correct(fraction: float, n: int) -> tuple[float, dict]:
    """(the accuracy of a whole count of n images nearest `fraction`, outcomes with those images first)."""
    k = round(fraction * n)
    return k / n, outcomes.encode([i < k for i in range(n)])


def written(record: dict, folder: Path) -> Path:
    """`record` in a new file of `folder` (numbered in order), its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results-{len(list(folder.glob('results-*.json')))}.json"
    path.write_text(json.dumps(record))
    return path


def zoo_results(entry, clean, aa=None, n=500, name="cifar10-sample", total=500, pgd=(), sha=None, version="standard"):
    """A results record as `sam-bench evaluate` writes it (test input: the numbers are chosen, each rounded to
    a whole count of the n images, with per-image outcomes that give it)."""
    clean, clean_outcomes = first_correct(clean, n)
    evaluations = [
        {
            "attack": "pgd",
            "norm": "Linf",
            "eps": eps,
            "eps_value": 0.0,
            "settings": {"steps": 10, "step_size": 0.001, "restarts": 1},
            "clean_acc": clean,
            "robust_acc": first_correct(acc, n)[0],
            "n_examples": n,
            "outcomes": first_correct(acc, n)[1],
        }
        for eps, acc in pgd
    ]
    if aa is not None:
        aa, aa_outcomes = first_correct(aa, n)
        evaluations.append(
            {
                "attack": "autoattack",
                "norm": "Linf",
                "eps": "8/255",
                "eps_value": 8 / 255,
                "settings": {"version": version},
                "clean_acc": clean,
                "robust_acc": aa,
                "attack_reported_acc": aa,
                "n_examples": n,
                "seconds": 1.0,
                "outcomes": aa_outcomes,
            }
        )
    return complete(
        {
            "schema": "sam-bench/eval-results/v1",
            "created": "2025-01-01T00:00:00+00:00",
            "model": {
                "ref": entry["id"],
                "kind": "zoo",
                "zoo_id": entry["id"],
                "weights_sha256": sha or entry["weights_sha256"],
                "arch": entry["arch"],
                "method": entry["method"],
            },
            "dataset": {
                "name": name,
                "family": "cifar10",
                "split": "test",
                "n_examples": n,
                "n_test_total": total,
                # a data set with fixed arrays carries its own fingerprint (data.FINGERPRINTS); another, any
                "sha256": FINGERPRINTS[name][0] if name in FINGERPRINTS else "0" * 64,
            },
            "precision": "fp32",
            "clean_acc": clean,
            "clean_outcomes": clean_outcomes,
            "evaluations": evaluations,
            "robustbench": None,
            "environment": {"device_name": "cpu"},
        },
        entry,
    )
