"""`sam-bench cost`: every model of a reproduction timed interleaved in one process (the evidence for
C4), written to cost.json with medians, 95% intervals and ratios to the same architecture's ST."""

import json

import pytest
from click.testing import CliRunner
from run_records import run_record

from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.experiments.step_cost import measure

TINY = {
    "arch": "preactresnet18",
    "width": 0.0625,
    "arch_kwargs": None,
    "dataset": "synthetic",
    "epochs": 1,
    "batch_size": 8,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "seed": 0,
}


def plan(folder, *models):
    folder.mkdir(parents=True, exist_ok=True)
    entries = [
        {"name": name, "key": f"{name}-key", "seed": 0, "primary": True, "config": {**TINY, **config}}
        for name, config in models
    ]
    (folder / "plan.json").write_text(json.dumps({"name": "tiny", "scale": "test", "models": entries}))
    return folder


GRID = [
    ("ST", {"method": "standard"}),
    ("SAM-0.1", {"method": "sam", "rho": 0.1}),
    (
        "AT-Linf-2",
        {"method": "at", "attack_norm": "Linf", "attack_eps": "2/255", "attack_steps": 2, "attack_step_size": "1/255"},
    ),
]


def test_cost_json_holds_interleaved_medians_intervals_and_ratios(tmp_path):
    path = measure(plan(tmp_path / "repro", *GRID), rounds=6, steps=1, warmup=1, threads=1)
    record = json.loads(path.read_text())
    assert record["schema"] == "sam-bench/cost/v1" and record["settings"]["rounds"] == 6
    assert record["environment"]["torch_threads"] == 1
    st, sam, at = record["models"]
    assert [m["name"] for m in record["models"]] == ["ST", "SAM-0.1", "AT-Linf-2"]
    assert [m["passes_per_step"] for m in record["models"]] == [1, 2, 3]
    assert st["ratio"] is None and sam["baseline"] == at["baseline"] == "ST" and sam["key"] == "SAM-0.1-key"
    for m in record["models"]:
        step = m["step_seconds"]
        assert len(step["runs"]) == 6 and step["low"] <= step["median"] <= step["high"]
    # the ratio is taken round by round (the same minute of the machine), then summarised
    assert sam["ratio"]["runs"] == pytest.approx(
        [a / b for a, b in zip(sam["step_seconds"]["runs"], st["step_seconds"]["runs"])]
    )
    assert sam["ratio"]["low"] <= sam["ratio"]["median"] <= sam["ratio"]["high"]


def test_the_report_judges_c4_from_cost_json(tmp_path):
    from sam_bench.report.claims import cost_verdict

    folder = plan(tmp_path / "repro", *GRID)
    result = CliRunner().invoke(
        cli, ["cost", str(folder), "--rounds", "6", "--steps", "1", "--only", "SAM-0.1", "--no-report"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((folder / "cost.json").read_text())
    assert [m["name"] for m in record["models"]] == ["ST", "SAM-0.1"]  # the ST its ratio needs comes along
    sam = run_record({"name": "SAM-0.1", "config": {"method": "sam"}})
    verdict = cost_verdict([sam], [run_record({"name": "ST"})], record)
    assert (
        verdict["verdict"] in ("holds", "fails", "inconclusive")
        and "x ST per step, 95% interval [" in verdict["evidence"][0]
    )


def test_the_reports_cost_table_tells_a_model_without_results_from_one_of_other_settings(tmp_path):
    from sam_bench.report.document import _cost_lines

    record = json.loads(measure(plan(tmp_path / "repro", *GRID), rounds=6, steps=1, warmup=1, threads=1).read_text())
    records = [
        run_record({"name": "ST"}),
        run_record({"name": "SAM-0.1", "key": "SAM-0.1-other-key"}),  # retrained with other settings
    ]  # AT-Linf-2 has no results yet (a grid still running)
    rows = {line.split(" | ")[0][2:]: line for line in _cost_lines(record, records) if line.startswith("| ")}
    assert "ST" in rows and "SAM-0.1 (other settings than this grid's: not used)" in rows
    assert "AT-Linf-2 (no results of this model yet)" in rows


def test_bad_requests_fail_before_any_timing(tmp_path):
    folder = plan(tmp_path / "repro", *GRID)
    with pytest.raises(BadInput, match="rounds >= 6"):
        measure(folder, rounds=3)
    with pytest.raises(BadInput, match="has no model NOPE"):
        measure(folder, only=["NOPE"])
    with pytest.raises(BadInput, match="no plan.json"):
        measure(tmp_path / "empty")
