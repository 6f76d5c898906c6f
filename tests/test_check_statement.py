"""What the pages that show a file's figures say of how far a spot check checks them
(sam_bench/evaluation/check_statement.py): nothing for a file checked to a point (every file with per-image draws,
any file not listed), "checked for changes of >= N points" for a file recorded before per-image draws, N computed
from its strata and the rates measured for its kind (recorded_before_checks.json, written by
tools/recorded_before.py --checks, computed again here)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from sam_bench.evaluation import check_statement
from sam_bench.evaluation.recheck import label
from sam_bench.evaluation.recorded_before import listed
from sam_bench.evaluation.results_record import Results

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "reproductions" / "paper-cifar10-full" / "results"


def _tool():
    spec = importlib.util.spec_from_file_location("recorded_before_tool", ROOT / "tools" / "recorded_before.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_the_words():
    assert check_statement.words({"clean": 1, "PGD": 1}) is None
    assert check_statement.words({}) is None
    assert (
        check_statement.words({"clean": 1, "PGD": 56, "AutoAttack": 2})
        == "checked for changes of >= 56 points (PGD), >= 2 points (AutoAttack), 1 point (clean)"
    )
    assert check_statement.words({"PGD": None, "AutoAttack": 4}) == (
        "checked for changes of >= 4 points (AutoAttack); no change of PGD figures refused in 99% of checks"
    )
    assert check_statement.worst([("pgd Linf 1/255", 3), ("pgd L2 16/255", 40), ("clean", 1)]) == {
        "PGD": 40,
        "clean": 1,
    }
    assert check_statement.worst([("pgd Linf 1/255", None), ("pgd L2 16/255", 40)]) == {"PGD": None}


def test_every_listed_file_has_every_evaluation_stated_and_no_other_file_has_any():
    stored = json.loads(check_statement.CHECKS.read_text())["files"]
    assert set(stored) == set(listed())
    for sha, path in listed().items():
        results = Results.read(ROOT / path)
        assert set(stored[sha]) == {label(ev) for ev in results.evaluations}, path
    assert check_statement.refused_changes("0" * 64) is None


@pytest.mark.parametrize("name", ["ST-2f379c4eaf.json", "SAM-0.1-8926c350fe.json"])
def test_the_gpu_files_statements_are_computed_again_from_the_measured_rates(name):
    """The full-scale files recorded on an H200: a check on a CPU replays their PGD's draws as the H200 made them and
    holds each evaluation to its own measured rate, so changes of a few points are refused (from fresh draws, at 50%
    a stratum, only changes of tens of points were); the stored figures are what the tool computes from the logs
    now."""
    tool = _tool()
    sha = hashlib.sha256((FULL / name).read_bytes()).hexdigest()
    computed = tool.checks(tool.rates(), only={sha})[sha]
    assert computed == check_statement.refused_changes(sha)
    pgd = [n for e, n in computed.items() if e.startswith("pgd")]
    assert None not in pgd and 1 < max(pgd) < 10
    assert check_statement.of_files([FULL / name]) is not None


def test_a_file_recorded_before_per_image_draws_on_a_cpu_is_checked_to_a_point_for_pgd_and_clean():
    stored = json.loads(check_statement.CHECKS.read_text())["files"]
    for sha, path in listed().items():
        environment = json.loads((ROOT / path).read_text())["environment"]
        if environment["device"] == "cpu":
            assert all(n == 1 for e, n in stored[sha].items() if not e.startswith("autoattack")), path


def test_the_docs_state_the_worst_changes_the_stored_statements_give():
    """docs/evaluation.md gives, per kind of file recorded before per-image draws, the largest change of each kind
    of figure that must be refused: read from recorded_before_checks.json, not typed."""
    stored = json.loads(check_statement.CHECKS.read_text())["files"]
    worst: dict = {}
    for sha, path in listed().items():
        device = json.loads((ROOT / path).read_text())["environment"]["device"]
        for evaluation, change in stored[sha].items():
            key = (device, check_statement.kind(evaluation))
            worst[key] = max(worst.get(key, 0), 101 if change is None else change)
    doc = " ".join((ROOT / "docs" / "evaluation.md").read_text().split())
    stated = [
        f">= {worst[('cuda', 'PGD')]} points of PGD at worst",
        f">= {worst[('cuda', 'AutoAttack')]} of AutoAttack, clean accuracy to a point",
        f"AutoAttack >= {worst[('cpu', 'AutoAttack')]} points at worst",
    ]
    assert [words for words in stated if words not in doc] == []
    assert worst[("cpu", "PGD")] == worst[("cpu", "clean")] == worst[("cuda", "clean")] == 1
