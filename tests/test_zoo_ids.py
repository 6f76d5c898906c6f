"""A new zoo id is one no other model has, in any case: RobustBench's own ids (where it is
installed), an entry's id in another case, and ids that end like a file name are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench import compat
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.zoo import ids

TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ids") / "run"
    r = invoke("train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64", "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def zoo(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "zoo"


def refused(result) -> str:
    assert isinstance(result.exception, SystemExit) and result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("Error:")]
    return line


@pytest.mark.parametrize("model_id", ["Carmon2019Unlabeled", "CARMON2019Unlabeled"])
def test_an_id_of_robustbench_is_refused(run, zoo, model_id):
    pytest.importorskip("robustbench")
    line = refused(invoke("zoo", "add", run, "--id", model_id, "--zoo-dir", zoo))
    assert f"model id {model_id} is RobustBench's Carmon2019Unlabeled" in line
    assert not (zoo / "cifar10").exists()


def test_an_id_that_differs_from_an_entry_only_in_case_is_refused(run, zoo):
    assert invoke("zoo", "add", run, "--id", "SamBench2026Standard_case", "--zoo-dir", zoo).exit_code == 0
    line = refused(invoke("zoo", "add", run, "--id", "SamBench2026STANDARD_Case", "--zoo-dir", zoo))
    assert "differs from the zoo's SamBench2026Standard_case only in case" in line
    line = refused(invoke("zoo", "add", run, "--id", "SamBench2026Standard_case", "--zoo-dir", zoo))
    assert "model id SamBench2026Standard_case is already taken in the zoo" in line


def test_the_suggested_id_moves_on_from_an_entry_in_another_case(run, zoo):
    first = invoke("zoo", "add", run, "--zoo-dir", zoo)
    assert first.exit_code == 0, first.output
    taken = next((zoo / "cifar10" / "Linf").glob("*.json")).stem
    (zoo / "cifar10" / "Linf" / f"{taken}.json").rename(zoo / "cifar10" / "Linf" / f"{taken.upper()}.json")
    (zoo / "cifar10" / "Linf" / f"{taken}.safetensors").unlink()
    # other weights of the same recipe (the same weights on one board are refused: test_zoo.py)
    second = invoke("zoo", "add", run, "--precision", "fp16", "--zoo-dir", zoo)
    assert second.exit_code == 0 and f"added {taken}_" in second.output, second.output  # with its sha256


@pytest.mark.parametrize("suffix", [".json", ".safetensors", ".pt"])
def test_an_id_that_ends_like_a_file_name_is_refused(run, zoo, suffix):
    line = refused(invoke("zoo", "add", run, "--id", f"SamBench2026Standard_x{suffix}", "--zoo-dir", zoo))
    assert f"it ends like a file name ({suffix})" in line


def test_without_robustbench_only_the_zoos_ids_are_checked(monkeypatch):
    monkeypatch.setattr(compat, "robustbench_models", lambda: None)
    ids.check_free("Carmon2019Unlabeled", ["SamBench2026SAM_a"])  # nothing to compare with: allowed
    with pytest.raises(BadInput, match="only in case"):
        ids.check_free("SamBench2026sam_a", ["SamBench2026SAM_a"])


def test_our_own_ids_registered_with_robustbench_are_not_robustbenchs(monkeypatch):
    listed = {"Carmon2019Unlabeled": {"gdrive_id": "15tU"}, "SamBench2026SAM_a": {"gdrive_id": "sam-bench:x"}}
    monkeypatch.setattr(compat, "robustbench_models", lambda: listed)
    assert ids.robustbench_ids() == ["Carmon2019Unlabeled"]
