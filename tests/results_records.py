"""Results records for tests that choose the numbers: `complete` fills in what a results file of
`sam-bench evaluate` always holds (sam_bench/schemas/eval-results.schema.json) around the fields a
test sets, so that the record passes the checks where results enter (sam_bench/evaluation/results_file.py)."""

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


def zoo_results(entry, clean, aa=None, n=500, name="cifar10-sample", total=500, pgd=(), sha=None, version="standard"):
    """A results record as `sam-bench evaluate` writes it (test input: the numbers are chosen)."""
    evaluations = [
        {
            "attack": "pgd",
            "norm": "Linf",
            "eps": eps,
            "eps_value": 0.0,
            "settings": {"steps": 10, "step_size": 0.001, "restarts": 1},
            "clean_acc": clean,
            "robust_acc": acc,
            "n_examples": n,
        }
        for eps, acc in pgd
    ]
    if aa is not None:
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
                "sha256": "0" * 64,
            },
            "precision": "fp32",
            "clean_acc": clean,
            "evaluations": evaluations,
            "robustbench": None,
            "environment": {"device_name": "cpu"},
        },
        entry,
    )
