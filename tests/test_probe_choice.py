"""The probe's choice of step mode and K, and its verdict on an evaluation beside training (what the long run on
the device it timed trains in: the scale's step mode, `reproduce --parallel K`). Records are the synthetic
fixture with other ratios, checked against the probe schema, so the choice is tested on what `sam-bench bench
--probe` writes, and never on this machine's speed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sam_bench import schema
from sam_bench.bench import probe_arrangement as arrangement
from sam_bench.bench.probe_choice import MIN_GAIN, choose

SYNTHETIC = json.loads((Path(__file__).parent / "probes" / "synthetic-h100.probe.json").read_text())


def _ratio(name: str, median: float) -> dict:
    return {"name": name, "numerator": "a.x", "denominator": "b.x", "runs": [median], "median": median, "rounds": 1}


def record(
    modes: dict[tuple[str, str], float] = None,
    parallel: dict[tuple[str, int], float] = None,
    beside: dict[tuple[str, int], tuple[float, float]] = None,
    mode: str = "graph",
) -> dict:
    """The synthetic record with these medians: {(method, mode): eager/mode}, {(method, K): K's/K=1's} and
    {(method, K): (training beside / alone, evaluation beside / alone)}, the last two timed in `mode`, named as
    `sam-bench bench --probe` names them (probe_arrangement.py)."""
    r = copy.deepcopy(SYNTHETIC)
    r["ratios"] = []
    for (method, timed_mode), median in (modes or {}).items():
        r["ratios"].append(_ratio(f"{method}: {timed_mode} speed-up (eager step / {timed_mode} step)", median))
    for (method, k), median in (parallel or {}).items():
        r["ratios"].append(_ratio(arrangement.aggregate_ratio(method, mode, k, 1), median))
    for (method, k), (training, evaluation) in (beside or {}).items():
        r["ratios"].append(_ratio(arrangement.training_beside_ratio(method, mode, k), training))
        r["ratios"].append(_ratio(arrangement.evaluation_beside_ratio(method, mode, k), evaluation))
    return schema.check("probe", r, "test record")


METHODS = ("standard", "sam", "at")
GRAPH = {(m, "graph"): 2.0 for m in METHODS}  # the graph step, twice the eager one for every method
BESIDE = {(m, k): (0.8, 0.5) for m in METHODS for k in (1, 4)}  # timed beside 1 and 4 trainings


def test_the_synthetic_record_picks_its_static_step():
    picked = choose(SYNTHETIC)
    assert (picked.step_mode, picked.parallel) == ("static", 1)
    assert picked.options() == ["--parallel", "1"] and picked.recipe_line() == "train: {step_mode: static}"


def test_a_mode_must_gain_for_every_method_it_would_train():
    """One reproduce call takes one mode: the method that gains least decides."""
    picked = choose(record({("standard", "static"): 1.5, ("sam", "static"): 1.4, ("at", "static"): 1.05}))
    assert picked.step_mode == "eager"
    assert any("static: at gains less than" in r for r in picked.reasons)


def test_the_faster_of_two_qualifying_modes_is_taken():
    modes = {(m, "static"): 1.2 for m in ("standard", "sam", "at")}
    modes |= {(m, "graph"): g for m, g in (("standard", 2.5), ("sam", 2.0), ("at", 1.6))}
    modes[("standard", "compiled")] = 9.0  # timed, but no run trains compiled: never chosen
    picked = choose(record(modes))
    assert picked.step_mode == "graph"


@pytest.mark.parametrize(
    "gains, expected",
    [
        ({2: 1.6, 4: 1.7}, 2),  # K=4 adds less than MIN_GAIN over K=2
        ({2: 1.6, 4: 2.0}, 4),
        ({2: 1.05, 4: 1.5}, 4),  # judged against the K taken so far (one process), not the last one tried
        ({2: 0.9, 4: 0.8}, 1),  # the device is saturated: one process
    ],
)
def test_k_goes_up_while_each_step_gains_in_the_chosen_mode(gains, expected):
    parallel = {(m, k): g for m in METHODS for k, g in gains.items()}
    picked = choose(record(GRAPH, parallel, BESIDE))
    assert (picked.step_mode, picked.parallel) == ("graph", expected)
    assert picked.options() == ["--parallel", str(expected)] and picked.ladder[-1] == expected
    assert picked.arrangement.mode == "graph" and picked.arrangement.gain("sam", 4) == pytest.approx(gains[4])


def test_a_larger_k_must_gain_for_every_method():
    parallel = {(m, k): g for m in METHODS for k, g in ((2, 1.6), (4, 2.4))}
    parallel[("at", 4)] = 1.7  # AT at K=4: x1.06 of its K=2, under MIN_GAIN
    picked = choose(record(GRAPH, parallel, BESIDE))
    assert picked.parallel == 2 and picked.ladder == [1, 2]
    assert any(r.startswith("graph, K=4:") and r.endswith("at not x1.10 of K=2: not taken") for r in picked.reasons)


def test_k_is_taken_only_where_every_method_and_an_evaluation_beside_it_were_timed():
    """`reproduce --parallel K` runs a cell's evaluation beside the other cells' training: K needs that timed at
    K-1 trainings or more, and K itself timed for every method the mode trains."""
    only_st = choose(record(GRAPH, {("standard", 2): 1.8}, BESIDE))
    assert only_st.parallel == 1
    assert "graph, K=2: aggregate images/s standard x1.80 of one process; not timed for sam, at: not taken" in (
        only_st.reasons
    )
    parallel = {(m, k): g for m in METHODS for k, g in ((2, 1.6), (4, 2.4))}
    alone = choose(record(GRAPH, parallel))
    assert alone.parallel == 1 and any("an evaluation beside 1 or more trainings not timed" in r for r in alone.reasons)
    beside_one = choose(record(GRAPH, parallel, {(m, 1): (0.8, 0.5) for m in METHODS}))
    assert beside_one.parallel == 2  # K=4's cells evaluate beside 3 trainings: timed beside 1 only, below
    assert any(r.startswith("graph, K=4:") and "beside 3 or more trainings not timed" in r for r in beside_one.reasons)


def test_mode_and_k_are_chosen_together():
    """Eager steps at K=4 gaining x3.0 for every method beat graph steps (x2.0) one at a time; graph steps at K=2
    gaining x1.6 (x3.2 in all) beat them in turn."""
    eager_k = {(m, 4): 3.0 for m in METHODS}
    eager_beside = {(m, 4): (0.8, 0.5) for m in METHODS}
    both = record(GRAPH)
    eager = record(parallel=eager_k, beside=eager_beside, mode="eager")
    picked = choose(both, eager)
    assert (picked.step_mode, picked.parallel) == ("eager", 4)
    graph_k = record(parallel={(m, 2): 1.6 for m in METHODS}, beside=BESIDE)
    picked = choose(both, eager, graph_k)
    assert (picked.step_mode, picked.parallel) == ("graph", 2)
    assert MIN_GAIN > 1


def test_an_older_records_eager_steps_per_second_are_read_as_eager():
    r = record()
    r["ratios"] = [
        _ratio("standard: aggregate steps/s, K=2 / K=1", 1.9),
        _ratio("standard: aggregate steps/s, K=4 / K=2", 1.5),
    ]
    r["settings"]["methods"] = ["standard"]
    picked = choose(r)
    assert picked.arrangement.mode == "eager" and picked.arrangement.gain("standard", 2) == pytest.approx(1.9)
    assert picked.arrangement.gain("standard", 4) is None  # timed against K=2, not one process: not a gain over one
    assert picked.parallel == 1  # no evaluation was timed beside it


@pytest.mark.parametrize("training, evaluation, pays", [(0.8, 0.5, True), (0.6, 0.45, False)])
def test_the_verdict_on_an_evaluation_beside_training(training, evaluation, pays):
    """It pays where the two at once do MIN_GAIN times what they do one after the other: the training's share
    of its speed alone plus the evaluation's share of its speed alone."""
    beside = {(m, k): (training, evaluation) for m in METHODS for k in (1, 4)}
    beside[("sam", 4)] = (0.5, 0.3)  # beside 4 trainings, SAM's shares decide: it does not pay there
    picked = choose(record(GRAPH, {(m, 2): 1.6 for m in METHODS}, beside))
    assert picked.beside_pays == {1: pays, 4: False}
    verdict = "pays" if pays else "does not pay"
    assert any(r.startswith("an evaluation beside K=1 graph trainings") and r.endswith(verdict) for r in picked.reasons)


def test_a_record_without_ratios_keeps_eager_and_one_process():
    picked = choose(record())
    assert picked.options() == ["--parallel", "1"] and picked.beside_pays == {}
    assert "K: no concurrent processes timed in eager steps" in picked.reasons


def test_the_grouped_ratio_is_reported_not_acted_on():
    r = record()
    r["ratios"].append(
        {
            "name": "conv: grouped speed-up, N=4 (N separate / one grouped)",
            "numerator": "conv/separate/N4.step_s",
            "denominator": "conv/grouped/N4.step_s",
            "runs": [1.6],
            "median": 1.6,
            "rounds": 1,
        }
    )
    picked = choose(schema.check("probe", r, "test record"))
    assert picked.grouped == {4: pytest.approx(1.6)} and picked.options() == ["--parallel", "1"]
    assert (
        "4 seeds as one grouped network: x1.60 of 4 separate, worth it (train --step-mode grouped --seeds)"
        in picked.reasons
    )


def test_the_grouped_step_ratio_is_reported_per_method():
    r = record()
    r["ratios"].append(
        {
            "name": "sam: grouped step speed-up, N=4 (N static steps / one grouped step)",
            "numerator": "seeds/sam/separate/N4.step_s",
            "denominator": "seeds/sam/grouped/N4.step_s",
            "runs": [0.7],
            "median": 0.7,
            "rounds": 1,
        }
    )
    picked = choose(schema.check("probe", r, "test record"))
    assert picked.grouped_steps == {("sam", 4): pytest.approx(0.7)} and picked.options() == ["--parallel", "1"]
    assert "sam, 4 seeds in one grouped step: x0.70 of 4 static steps, not worth it" in picked.reasons
