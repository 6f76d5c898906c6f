"""GPU minutes per model (sam_bench/report/gpu_minutes.py), on the committed full-scale reproduction
(trained and evaluated on an NVIDIA H200), and on a CPU one."""

import copy
import json
from dataclasses import replace
from pathlib import Path

from sam_bench.evaluation.results_record import Results
from sam_bench.report import gpu_minutes
from sam_bench.report.folder import Folder

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "reproductions" / "paper-cifar10-full"


def changed(record, change):
    """The record with its results file's fields as `change` leaves a copy of them."""
    data = copy.deepcopy(record.results.as_dict())
    change(data)
    return replace(record, results=Results(data, record.path))


def test_each_gpu_run_counts_its_training_and_evaluation_wall_time():
    folder = Folder.load(FULL)
    rows = {(r["name"], r["seed"]): r for r in gpu_minutes.rows(folder.records)}
    assert {("ST", 0), ("SAM-0.1", 0), ("ST", 1), ("SAM-0.1", 1)} <= set(rows)
    for record in folder.records:
        row = rows[record.name, record.seed]
        results = json.loads(record.path.read_text())
        assert row["device"] == results["model"]["training"]["device_name"] != ""
        assert row["training_min"] * 60 == results["model"]["training"]["wall_time_s"]
        attacks = results["evaluations"]
        took = sum(e["seconds"] + e["chunks"].get("probe_seconds", 0) for e in attacks if "chunks" in e)
        took += sum(e["seconds"] for e in attacks if "chunks" not in e)
        assert abs(row["evaluation_min"] * 60 - took) < 1e-9
        assert row["total_min"] == row["training_min"] + row["evaluation_min"]
    table = gpu_minutes.lines(folder.records)
    assert table[2].startswith("| model | seed | GPU |") and table[-2].startswith("| all |")
    assert "## Compute" in (FULL / "REPORT.md").read_text() and table[0] in (FULL / "REPORT.md").read_text()


def test_the_timed_probes_before_an_attacks_chunks_count_with_its_evaluation():
    record = Folder.load(FULL).records[0]
    (before,) = gpu_minutes.rows([record])

    def probed(data):  # as a call under a time limit records it
        attack = data["evaluations"][-1]
        attack["chunks"] = dict(attack["chunks"], probe_seconds=30.0)

    (row,) = gpu_minutes.rows([changed(record, probed)])
    assert abs(row["evaluation_min"] - before["evaluation_min"] - 0.5) < 1e-9


def test_a_part_that_ran_on_a_cpu_is_not_counted_and_a_cpu_folder_has_no_table():
    cpu = "cpu (x86_64, 2 threads)"
    record = changed(
        Folder.load(FULL).records[0], lambda data: data["environment"].update(device="cpu", device_name=cpu)
    )
    (row,) = gpu_minutes.rows([record])
    assert row["evaluation_min"] is None and row["total_min"] == row["training_min"]
    record = replace(record, training=replace(record.training, device_name=cpu))
    assert gpu_minutes.rows([record]) == [] and gpu_minutes.lines([record]) == []
    assert gpu_minutes.lines(Folder.load(ROOT / "reproductions" / "paper-cifar10-sample").records) == []
    gpu = Folder.load(FULL).records[0]
    assert gpu_minutes.rows([replace(gpu, training=replace(gpu.training, reused_from="elsewhere"))]) == []


def test_the_readme_sentence_gives_each_gpu_runs_minutes_and_autoattacks_seconds():
    folder = Folder.load(FULL)
    said = gpu_minutes.sentence(folder.records)
    for row in gpu_minutes.rows(folder.records):
        name = gpu_minutes.labelled(row["name"], row["seed"])
        assert f"{name}: {row['training_min']:.1f} training + {row['evaluation_min']:.1f} evaluation" in said
    for record in folder.records:
        standard = [
            e
            for e in json.loads(record.path.read_text())["evaluations"]
            if e["attack"] == "autoattack" and e["eps"] == "8/255" and e["settings"]["version"] == "standard"
        ]
        assert len(standard) == (record.seed == 0)  # the boards' attack runs on first seeds
        for aa in standard:
            assert f"{gpu_minutes.labelled(record.name, record.seed)} {aa['seconds']:.1f} s on 10,000 images" in said
    page = (ROOT / "docs" / "leaderboard.md").read_text()  # where each reproduction's summary is rendered
    assert said.startswith(" GPU minutes per model on NVIDIA H200") and said in page
    assert gpu_minutes.sentence(Folder.load(ROOT / "reproductions" / "paper-cifar10-sample").records) == ""
