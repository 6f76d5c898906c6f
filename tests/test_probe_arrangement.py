"""The probe's arrangements (sam_bench/bench/probe_arrangement.py): K training processes in a step mode, and an
evaluation beside them, run for real on this CPU with a tiny network in the eager and static steps (the graph
step's is in tests/test_gpu.py). What is checked is the structure: which worker processes ran, which parts and
values the record holds, and that the ratios are named so that the choice (probe_choice.py) reads them; never a speed.
The budget is far beyond what the parts need and one round is asked for, so no clock decides what is measured."""

from __future__ import annotations

import copy

import pytest
import torch

from sam_bench.bench import probe_arrangement, probe_parts
from sam_bench.bench.probe import run_probe
from sam_bench.bench.probe_choice import choose

ENV = {"device": "cpu", "device_name": "this CPU", "torch_version": torch.__version__, "code_commit": None}
METHODS = ["standard", "at"]


def settings() -> dict:
    s = {**probe_parts.DEFAULTS, "arch": "preactresnet18", "width": 0.0625, "batch_size": 4, "precision": "fp32"}
    s.update(rho=0.1, seed=0, threads=1, steps=1, attack_images=4, methods=METHODS, modes=[])
    s.update(concurrent_methods=METHODS, concurrent_modes=["eager", "static"], concurrency=[1, 2], beside=[1])
    s.update(concurrent_s=0.05)
    return s


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One round of every arrangement part, and the worker processes that ran them."""
    s = settings()
    parts, ratios, skipped = probe_arrangement.parts(s, torch.device("cpu"))
    crew = parts[0].close.__self__  # every part's processes are the one crew's
    seen: set[str] = set()
    for part in parts:
        assert part.close == crew.close
        part.close = lambda: (seen.update(crew.workers), crew.close())
    out = tmp_path_factory.mktemp("probe") / "p.json"
    record = run_probe(parts, ratios, 3600.0, out, ENV, {**s, "budget_s": 3600.0}, skipped, max_rounds=1)
    return parts, record, seen


def test_k_processes_of_each_mode_and_an_evaluation_beside_them_ran(measured):
    parts, record, seen = measured
    names = [p.name for p in parts]
    assert names == [
        *(f"concurrent/{m}/{mode}/K{k}" for mode in ("eager", "static") for m in METHODS for k in (1, 2)),
        "evaluation/alone",
        *(f"beside/{m}/{mode}/K1" for mode in ("eager", "static") for m in METHODS),
    ]
    assert seen == {"train-0", "train-1", "evaluation"}  # two training processes at most, one evaluation
    assert record["status"] == "complete" and record["failed"] == {} and record["budget"]["rounds"] == 1
    for name in names:
        values = record["parts"][name]["values"]
        expected = {
            "concurrent": {"images_per_s_aggregate", "images_per_s_per_process"},
            "evaluation": {"evaluation_images_per_s"},
            "beside": {"images_per_s_aggregate", "images_per_s_per_process", "evaluation_images_per_s"},
        }[name.split("/")[0]]
        assert set(values) == expected and all(v["median"] > 0 and v["rounds"] == 1 for v in values.values())
    k2 = record["parts"]["concurrent/at/static/K2"]
    assert [k2[key] for key in ("kind", "method", "mode", "processes", "attack_steps")] == [
        "concurrent",
        "at",
        "static",
        2,
        10,
    ]


def test_its_ratios_are_named_so_that_the_choice_reads_them_in_their_mode(measured):
    _, record, _ = measured
    assert {r["name"] for r in record["ratios"]} == {
        name
        for mode in ("eager", "static")
        for m in METHODS
        for name in (
            probe_arrangement.aggregate_ratio(m, mode, 2, 1),
            probe_arrangement.training_beside_ratio(m, mode, 1),
            probe_arrangement.evaluation_beside_ratio(m, mode, 1),
        )
    }
    assert all(r["median"] > 0 and r["rounds"] == 1 for r in record["ratios"])
    eager = choose(record)  # no mode timed against eager here: eager is the mode, its K ratios are read
    assert eager.step_mode == "eager" and set(eager.arrangement.aggregate) == set(METHODS)
    assert all(set(eager.arrangement.training_beside[m]) == {1} for m in METHODS)
    assert all(set(eager.arrangement.evaluation_beside[m]) == {1} for m in METHODS)
    static = copy.deepcopy(record)  # with the static step twice as fast as eager, its own K ratios are read
    static["ratios"] += [
        {"name": f"{m}: static speed-up (eager step / static step)", "numerator": "a.x", "denominator": "b.x"}
        | {"runs": [2.0], "median": 2.0, "rounds": 1}
        for m in METHODS
    ]
    picked = choose(static)
    assert picked.step_mode == "static" and picked.arrangement.mode == "static"
    assert picked.arrangement.gain("at", 2) == next(
        r["median"] for r in record["ratios"] if r["name"] == probe_arrangement.aggregate_ratio("at", "static", 2, 1)
    )
    assert picked.parallel in (1, 2) and set(picked.beside_pays) == {1}


def test_what_cannot_run_here_is_not_applicable_and_bad_settings_end_in_one_line():
    s = {**settings(), "concurrent_methods": ["standard", "trades"], "concurrent_modes": ["graph", "static"]}
    parts, _, skipped = probe_arrangement.parts(s, torch.device("cpu"))
    assert skipped == {
        "concurrent/standard/graph": "a CUDA graph needs a CUDA device",
        "concurrent/trades/graph": "trades has a step of its own and no capturable one",
        "concurrent/trades/static": "trades has a step of its own and no capturable one",
    }
    assert [p.name for p in parts][:2] == ["concurrent/standard/static/K1", "concurrent/standard/static/K2"]
    assert not probe_arrangement.parts({**s, "concurrent_modes": ["graph"]}, torch.device("cpu"))[0]
    from sam_bench.errors import BadInput

    for bad, message in (
        ({"concurrent_modes": ["compiled"]}, "no step mode a run trains in"),
        ({"beside": [4]}, "must be one of --concurrency"),
        ({"concurrent_s": 0}, "--concurrent-s must be more than 0"),
    ):
        with pytest.raises(BadInput, match=message):
            probe_arrangement.check({**settings(), **bad})
    assert probe_arrangement.beside_counts({"concurrency": [1, 2], "beside": None}) == [1, 2]
