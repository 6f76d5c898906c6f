"""The probe's choice of step mode and K (issue #46: the window plan reads the probe and picks the mode and
K for the rest). Records are the synthetic fixture with other ratios, checked against the probe schema, so
the choice is tested on what `sam-bench bench --probe` writes, and never on this machine's speed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sam_bench import schema
from sam_bench.bench.probe_choice import MIN_GAIN, choose

SYNTHETIC = json.loads((Path(__file__).parent / "probes" / "synthetic-h100.probe.json").read_text())


def record(modes: dict[tuple[str, str], float] = None, parallel: dict[tuple[str, int], float] = None) -> dict:
    """The synthetic record with these medians: {(method, mode): eager/mode} and {(method, K): K's/K=1's}."""
    r = copy.deepcopy(SYNTHETIC)
    r["ratios"] = []
    for (method, mode), median in (modes or {}).items():
        r["ratios"].append(
            {
                "name": f"{method}: {mode} speed-up (eager step / {mode} step)",
                "numerator": f"train/{method}/eager.step_s",
                "denominator": f"train/{method}/{mode}.step_s",
                "runs": [median],
                "median": median,
                "rounds": 1,
            }
        )
    for (method, k), median in (parallel or {}).items():
        key = "steps_per_s_aggregate"
        r["ratios"].append(
            {
                "name": f"{method}: aggregate steps/s, K={k} / K=1",
                "numerator": f"concurrent/{method}/K{k}.{key}",
                "denominator": f"concurrent/{method}/K1.{key}",
                "runs": [median],
                "median": median,
                "rounds": 1,
            }
        )
    return schema.check("probe", r, "test record")


def test_the_synthetic_record_picks_its_static_step():
    picked = choose(SYNTHETIC)
    assert (picked.step_mode, picked.parallel, picked.mode_gain) == ("static", 1, pytest.approx(1.25))
    assert picked.options() == ["--parallel", "1"] and picked.recipe_line() == "train: {step_mode: static}"


def test_a_mode_must_gain_for_every_method_it_would_train():
    """One reproduce call takes one mode: the method that gains least decides."""
    picked = choose(record({("standard", "static"): 1.5, ("sam", "static"): 1.4, ("at", "static"): 1.05}))
    assert picked.step_mode == "eager" and picked.mode_gain == 1.0
    assert any("static: at gains less than" in r for r in picked.reasons)


def test_the_faster_of_two_qualifying_modes_is_taken():
    modes = {(m, "static"): 1.2 for m in ("standard", "sam", "at")}
    modes |= {(m, "graph"): g for m, g in (("standard", 2.5), ("sam", 2.0), ("at", 1.6))}
    modes[("standard", "compiled")] = 9.0  # timed, but no run trains compiled: never chosen
    picked = choose(record(modes))
    assert (picked.step_mode, picked.mode_gain) == ("graph", pytest.approx(1.6))


@pytest.mark.parametrize(
    "gains, expected",
    [
        ({2: 1.6, 4: 1.7}, 2),  # K=4 adds less than MIN_GAIN over K=2
        ({2: 1.6, 4: 2.0}, 4),
        ({2: 1.05, 4: 1.5}, 4),  # judged against the K taken so far (one process), not the last one tried
        ({2: 0.9, 4: 0.8}, 1),  # the device is saturated: one process
    ],
)
def test_k_goes_up_while_each_step_gains(gains, expected):
    picked = choose(record(parallel={("standard", k): g for k, g in gains.items()}))
    assert picked.parallel == expected
    assert picked.parallel_gain == (1.0 if expected == 1 else pytest.approx(gains[expected]))


def test_with_a_step_mode_taken_k_stays_one_and_a_method_without_a_capturable_step_gains_nothing():
    picked = choose(
        record({(m, "static"): 1.5 for m in ("standard", "sam", "at")}, {("standard", 2): 1.3, ("standard", 4): 1.8})
    )
    assert (picked.step_mode, picked.parallel) == ("static", 1) and picked.options() == ["--parallel", "1"]
    assert any(
        r.startswith("K=4: aggregate steps/s x1.80 of one process in eager steps, not taken") for r in picked.reasons
    )
    assert picked.training_gain("standard") == pytest.approx(1.5)
    assert picked.training_gain("trades") == 1.0  # TRADES trains eager, one model at a time
    eager = choose(record({(m, "static"): 1.05 for m in ("standard", "sam", "at")}, {("standard", 4): 1.8}))
    assert (eager.step_mode, eager.parallel) == ("eager", 4)
    assert eager.training_gain("standard") == eager.training_gain("trades") == pytest.approx(1.8)
    assert MIN_GAIN > 1


def test_a_record_without_ratios_keeps_eager_and_one_process():
    picked = choose(record())
    assert picked.options() == ["--parallel", "1"]
    assert "K: no concurrent processes timed" in picked.reasons


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
