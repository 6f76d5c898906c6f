"""A results file's per-class accuracies are derived from its per-image outcomes and the test set's labels where
those are at hand (`verify`, the gate of every board), so an edited list is refused, not published."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.data import load_dataset
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import per_class
from sam_bench.evaluation.results_record import Results

TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("per-class")
    for args in (
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64", "--out", w / "run", *TINY],
        ["evaluate", w / "run", "--attack", "pgd", "--norm", "Linf", "--eps", "1/255", "--n-examples", "40"]
        + ["--quiet", "--out", w / "pgd.json"],
    ):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
    return w


def test_evaluate_writes_what_outcomes_and_labels_give(measured):
    results = Results.read(measured / "pgd.json")
    labels = load_dataset("cifar10-sample").y_test
    per_class.check(measured / "pgd.json", results, labels)  # a faithful file passes
    (ev,) = results.evaluations
    assert ev.per_class_robust_acc == per_class.derived(ev, labels, 10)


@pytest.mark.parametrize("edit", ["raised", "dropped", "absent class"])
def test_an_edited_per_class_list_is_refused_by_verify(measured, tmp_path, edit):
    path = tmp_path / "pgd.json"
    shutil.copy(measured / "pgd.json", path)
    results = json.loads(path.read_text())
    listed = results["evaluations"][0]["per_class_robust_acc"]
    labels = load_dataset("cifar10-sample").y_test[:40]
    k = int(np.argmax([a if a is not None else -1 for a in listed]))
    if edit == "raised":
        listed[k] = min(1.0, listed[k] + 0.25) if listed[k] < 1 else 0.5
    elif edit == "dropped":
        del listed[-1]
    else:
        listed[k] = None
    path.write_text(json.dumps(results))
    with pytest.raises(SamBenchError, match=r"per_class_robust_acc\[\d\] is .*its per-image outcomes and the test"):
        per_class.check(path, Results(results, path), load_dataset("cifar10-sample").y_test)
    assert len(set(labels.tolist())) > 1
    r = invoke("verify", path, "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "per_class_robust_acc[" in r.output and "1 of 1 results files refused" in r.output


def test_the_gate_of_every_board_refuses_it_before_measuring(measured, tmp_path):
    from sam_bench.leaderboard import publication
    from sam_bench.zoo import store

    entry = store.add(measured / "run", "SamBench2026Standard_perclass", zoo_dir=tmp_path / "zoo")
    path = tmp_path / "pgd.json"
    results = json.loads((measured / "pgd.json").read_text())
    listed = results["evaluations"][0]["per_class_robust_acc"]
    listed[3] = 0.5 if listed[3] != 0.5 else 0.25
    path.write_text(json.dumps(results))
    heard = []
    with pytest.raises(SamBenchError, match=r"per_class_robust_acc\[3\] is"):
        publication.check_evidence(
            path, store.find_entry(entry.id, tmp_path / "zoo"), zoo_dir=tmp_path / "zoo", progress=heard.append
        )
    assert heard == []  # refused before anything was measured again
