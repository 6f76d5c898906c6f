"""tools/forged_clean.py, the forger's trial behind the statement that a GPU file's clean accuracy is checked to a
point (benchmarks/forged-gpu-clean.log): its copy changes clean accuracy by exactly the points asked, consistently,
so that `verify` refuses it for what the weights measure, not for a figure left inconsistent."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from sam_bench.data import load_dataset
from sam_bench.evaluation import check_power, outcomes, per_class
from sam_bench.evaluation.results_record import Results

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "reproductions" / "paper-cifar10-sample" / "results" / "ST-eefd72d0d5.json"
sys.path.insert(0, str(ROOT / "tools"))

import forged_clean  # noqa: E402


@pytest.mark.parametrize("points", [1.0, 0.5])
@pytest.mark.parametrize("up", [True, False], ids=["up", "down"])
def test_a_forged_copy_moves_the_points_asked_and_re_derives_every_clean_figure(up, points):
    original = json.loads(SAMPLE.read_text())
    labels = load_dataset(original["dataset"]["name"]).y_test
    copy = forged_clean.forged(json.loads(SAMPLE.read_text()), labels, up, np.random.default_rng(0), points)
    before, after = outcomes.decode(original["clean_outcomes"]), outcomes.decode(copy["clean_outcomes"])
    moved = np.flatnonzero(before != after)
    assert len(moved) == round(len(before) * points / 100) > 0 and (after[moved] == up).all()
    assert copy["clean_acc"] == pytest.approx(original["clean_acc"] + (points if up else -points) / 100)
    assert [e["attack"] for e in copy["evaluations"]] == ["clean"]
    assert copy["evaluations"][0]["robust_acc"] == copy["clean_acc"]
    per_class.check(SAMPLE, Results(copy, SAMPLE), labels)  # consistent: nothing but the weights can refuse it


def test_the_computed_power_of_a_forgery_meets_the_design_at_a_point_and_falls_with_the_edit():
    """The figure the summary puts beside the measured refusals: at 1 point the check's design power, and less
    for smaller edits, both ways, for a full-scale GPU file checked on a CPU."""
    full = ROOT / "reproductions" / "paper-cifar10-full" / "results" / "ST-e86973c015.json"
    for up in (True, False):
        powers = [forged_clean.power(full, points, up) for points in (1.0, 0.5, 0.2)]
        assert powers[0] >= check_power.POWER and powers[0] > powers[1] > powers[2] > 0
        assert 0 < forged_clean.power(full, 0.2, up, faithful_differ=False) <= powers[2]  # chance differences help


def test_the_docs_state_the_refusals_the_log_holds():
    """docs/evaluation.md's counts of refused forgeries are the log's, in the order it states them (each edit up,
    then down, from 1 point to 0.1): a try added to the log without the docs following fails here."""
    counts: dict[str, list[int]] = {}
    for line in (ROOT / "benchmarks" / "forged-gpu-clean.log").read_text().splitlines():
        entry = json.loads(line)
        counts.setdefault(entry["edit"], []).append(entry["exit"])
    docs = (ROOT / "docs" / "evaluation.md").read_text()
    paragraph = docs[docs.index("Tried as a forger would\n    (`tools/forged_clean.py`") :].split("\n- **")[0]
    pairs = re.findall(r"(\d+)\s+of\s+(\d+)", " ".join(paragraph.split()))
    stated = [(int(refused), int(tries)) for refused, tries in pairs]
    edits = sorted(counts, key=lambda edit: (-abs(float(edit.split()[0])), not edit.startswith("+")))
    found = [(exits.count(1), len(exits)) for exits in map(counts.get, edits)]
    one_point = (found[0][0] + found[1][0], found[0][1] + found[1][1])  # stated over both ways
    assert [one_point, *found[2:]] == stated
