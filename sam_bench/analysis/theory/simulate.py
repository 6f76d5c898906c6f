"""Run the simulation: train the grid on each repetition's sample, score it, aggregate, judge.

`simulate(spec)` returns the results record (JSON-ready) that the report and plots render.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np

from sam_bench.analysis.theory.correspondence import correspondence, sam_margin_drop
from sam_bench.analysis.theory.features import (
    FeatureModel,
    accuracy,
    monte_carlo_accuracy,
    non_robust_reliance,
    weight_shares,
)
from sam_bench.analysis.theory.report import write_outputs
from sam_bench.analysis.theory.spec import check_fits_in_memory, load_spec
from sam_bench.analysis.theory.statements import judge
from sam_bench.analysis.theory.training import method_grid, train
from sam_bench.errors import BadInput
from sam_bench.files import check_writable
from sam_bench.version import __version__

SCHEMA = "sam-bench/theory-linear/v1"


def measure(
    w: np.ndarray,
    methods,
    model: FeatureModel,
    spec: dict,
    train_set: tuple[np.ndarray, np.ndarray],
    test_set: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> list[dict]:
    """Every method's numbers on one repetition: exact accuracies, weights, reliance, the Monte Carlo
    check on the test sample, and for SAM the input perturbation its weight perturbation amounts to."""
    attacks = spec["evaluation"]["attacks"]
    clean = accuracy(w, model)
    robust = [accuracy(w, model, attack) for attack in attacks]
    reliance = non_robust_reliance(w, model)
    shares = weight_shares(w, model)
    # methods[0] is ST: how far each classifier turned away from it (1: same direction, only rescaled)
    cosine_to_st = (w @ w[0]) / (np.linalg.norm(w, axis=1) * np.linalg.norm(w[0]))
    mc_clean = monte_carlo_accuracy(w, *test_set)
    mc_robust = monte_carlo_accuracy(w, *test_set, attacks[0])
    records = []
    for i, method in enumerate(methods):
        record = {
            "clean_accuracy": float(clean[i]),
            "robust_accuracy": [float(r[i]) for r in robust],
            "non_robust_reliance": float(reliance[i]),
            "robust_weight_share": float(shares["robust"][i]),
            "non_robust_weight_share": float(shares["non_robust"][i]),
            "weight_norm": float(np.linalg.norm(w[i])),
            "cosine_to_st": float(cosine_to_st[i]),
            "monte_carlo": {"clean": mc_clean[i], "robust": mc_robust[i]},
        }
        if method.kind == "SAM":
            record["sam_perturbation"] = sam_margin_drop(w[i], method.strength, *train_set, spec["training"], rng)
        records.append(record)
    return records


def _summary(values: list) -> dict | list:
    """Mean, min and max over repetitions (element by element for lists, key by key for dicts)."""
    first = values[0]
    if isinstance(first, dict):
        return {key: _summary([v[key] for v in values]) for key in first}
    if isinstance(first, list):
        return [_summary([v[j] for v in values]) for j in range(len(first))]
    return {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values))}


def _means(summary):
    """The same structure with each {mean, min, max} replaced by its mean."""
    if isinstance(summary, dict) and set(summary) == {"mean", "min", "max"}:
        return summary["mean"]
    if isinstance(summary, dict):
        return {key: _means(v) for key, v in summary.items()}
    return [_means(v) for v in summary]


def simulate(spec: dict, progress=None) -> dict:
    """The results record for a checked spec; progress(n_epochs) after every epoch of training."""
    started = time.perf_counter()
    model = FeatureModel.from_spec(spec["data"])
    methods = method_grid(spec["methods"])
    per_repetition = []
    for repetition in range(spec["repetitions"]):
        rng = np.random.default_rng([spec["seed"], repetition])
        train_set = model.sample(spec["data"]["n_train"], rng)
        w = train(methods, *train_set, spec["training"], rng, on_epoch=progress)
        test_set = model.sample(spec["data"]["n_test"], rng)
        per_repetition.append(measure(w, methods, model, spec, train_set, test_set, rng))
    runs = []
    for i, method in enumerate(methods):
        repetitions = [rep[i] for rep in per_repetition]
        metrics = _summary([{k: v for k, v in r.items() if k != "monte_carlo"} for r in repetitions])
        runs.append({**method.as_dict(), "metrics": metrics, "mean": _means(metrics), "repetitions": repetitions})
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "spec": spec,
        "model": {
            "dim": model.dim,
            "bayes_accuracy": model.bayes_accuracy(),
            "robust_features_only_accuracy": model.group_accuracy("robust"),
            "non_robust_features_only_accuracy": model.group_accuracy("non_robust"),
        },
        "runs": runs,
        "monte_carlo_check": monte_carlo_check(runs),
    }
    st = next(r["mean"] | {"strength": 0.0} for r in runs if r["method"] == "ST")
    sam = [r["mean"] | {"strength": r["strength"]} for r in runs if r["method"] == "SAM"]
    at = {
        norm: [r["mean"] | {"strength": r["strength"]} for r in runs if r["method"] == "AT" and r["norm"] == norm]
        for norm in ("Linf", "L2")
    }
    results["correspondence"] = correspondence(
        st, sam, {k: v for k, v in at.items() if v}, primary=0, tolerance=spec["evaluation"]["tolerance"]
    )
    results["statements"] = judge(results)
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def monte_carlo_check(runs: list[dict]) -> dict:
    """How often the exact accuracy (clean and under the first attack) lies in the Monte Carlo 95%
    interval: about 95% of the time if the closed forms are right, far less if they are not."""
    checked = inside = 0
    for run in runs:
        for rep in run["repetitions"]:
            for exact, counted in (
                (rep["clean_accuracy"], rep["monte_carlo"]["clean"]),
                (rep["robust_accuracy"][0], rep["monte_carlo"]["robust"]),
            ):
                checked += 1
                inside += int(counted["low"] <= exact <= counted["high"])
    return {"checked": checked, "inside": inside, "share_inside": inside / checked}


def environment() -> dict:
    import scipy

    from sam_bench.runtime.provenance import code_commit

    return {
        "sam_bench_version": __version__,
        "code_commit": code_commit(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def run(spec_path=None, out="reproductions/theory-linear", progress: bool = True) -> tuple[dict, dict]:
    """Load the spec (defaults if None), simulate, write results.json, plots and REPORT.md into `out`.
    A progress bar shows only if training is still going after a few seconds."""
    from tqdm import tqdm

    spec = load_spec(spec_path)
    where = str(spec_path) if spec_path is not None else "the default spec"
    check_fits_in_memory(spec, where)
    check_writable(f"{out}/results.json")  # fail before the work, not after it
    total = spec["repetitions"] * spec["training"]["epochs"]
    with tqdm(total=total, desc="training epochs", unit="ep", delay=3, disable=not progress, leave=True) as bar:
        try:
            results = simulate(spec, progress=lambda: bar.update(1))
        except MemoryError:  # the estimate fitted, the machine did not (other processes took memory meanwhile)
            raise BadInput(
                f"{where}: ran out of memory for {spec['data']['n_train']:,} training and {spec['data']['n_test']:,} "
                "test examples of this many features; use fewer features or examples"
            ) from None
    results["provenance"] = environment()
    return results, write_outputs(results, out)
