"""What code made a run: the package's fingerprint (computed from files, and for any commit from git), where a
results file's run is found from any checkout, and the report's rule for which confirmatory runs count."""

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from sam_bench import files
from sam_bench.evaluation.results_record import Results
from sam_bench.evaluation.run_location import located, run_ref
from sam_bench.report import code_provenance
from sam_bench.report.code_provenance import check_code
from sam_bench.report.folder import Folder
from sam_bench.runtime import code_identity
from sam_bench.runtime.provenance import environment

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "reproductions" / "paper-cifar10-full"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def _has_history() -> bool:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD~20"], capture_output=True)
    return done.returncode == 0


needs_history = pytest.mark.skipif(not _has_history(), reason="needs this checkout's git history")


@needs_history
def test_a_copied_trees_fingerprint_is_its_commits(tmp_path):
    """The fingerprint of a tree copied without .git (its package's files) equals the one git gives its commit,
    and a changed file changes it."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "sam_bench"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    (tmp_path / "sam_bench" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "sam_bench" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")  # not the code
    copied = code_identity.fingerprint.__wrapped__(tmp_path)
    assert copied == code_identity.of_commit("HEAD", ROOT)
    assert copied != code_identity.of_commit("HEAD~20", ROOT)
    (tmp_path / "sam_bench" / "version.py").write_text("__version__ = 'edited'\n")
    assert code_identity.fingerprint.__wrapped__(tmp_path) != copied
    assert code_identity.fingerprint.__wrapped__(tmp_path / "absent") is None
    assert code_identity.of_commit("0" * 40, ROOT) is None


def test_every_run_and_result_records_its_codes_fingerprint():
    env = environment(torch.device("cpu"))
    assert env["code_fingerprint"] == code_identity.fingerprint() and len(env["code_fingerprint"]) == 64


@needs_history
def test_the_rule_counts_a_run_only_where_its_records_name_code_that_holds_the_tests():
    fixing, later, earlier = _git("rev-parse", "HEAD~10"), _git("rev-parse", "HEAD~3"), _git("rev-parse", "HEAD~15")
    fingerprint = code_identity.of_commit(later, ROOT)
    assert fingerprint is not None
    # named by its fingerprint: the commit it names, or else any commit from the fixing one on
    assert check_code(later + "+copy", fingerprint, fixing).counts
    assert check_code(None, fingerprint, fixing).counts
    found = check_code(None, fingerprint, fixing).named.split("(commit ")[1].rstrip(")")
    assert code_identity.of_commit(found, ROOT) == fingerprint  # a commit with the same package files
    assert not check_code(None, "f" * 64, fixing).counts  # files no commit holds (uncommitted changes)
    before = check_code(earlier, code_identity.of_commit(earlier, ROOT), fixing)
    assert not before.counts and "precedes" in before.why
    # records from before fingerprints: a clean commit from the fixing one on
    assert check_code(later, None, fixing).counts
    assert not check_code(earlier, None, fixing).counts
    assert not check_code(later + "+dirty", None, fixing).counts
    nothing = check_code(None, None, fixing)
    assert not nothing.counts and nothing.named == "no code"


@needs_history
def test_the_full_scales_first_gpu_runs_name_no_code_and_are_exploratory():
    """ST and SAM-0.1 seed 1 trained on an H200 from a copied tree whose commit did not travel: their records name
    no code, so by the rule they do not count, and the primary tests wait for seeds 2 and 3."""
    folder = Folder.load(FULL)
    counted, dropped = code_provenance.split(folder.records, folder.plan)
    assert {(r.name, r.seed) for r, _ in dropped} == {("ST", 1), ("SAM-0.1", 1)}
    assert all(c.named == "no code" for _, c in dropped)
    assert code_provenance.seeds(folder.records, folder.plan)["ST"] == [2, 3]
    text = "\n".join(code_provenance.lines(folder.records, folder.plan))
    assert "ST seed 1 (`ST-e86973c015`): no code" in text and "0 of the 2 confirmatory runs with results count" in text
    named = replace(dropped[0][0].training, code_commit=_git("rev-parse", "HEAD"))
    assert code_provenance.check_code(
        named.code_commit, named.code_fingerprint, code_provenance.fixed(folder.plan)["commit"]
    ).counts


def test_a_results_file_finds_its_run_wherever_the_folder_is(tmp_path):
    """A reproduction's results name their runs relative to the folder (`runs/<run>`); an older file that named a
    run by a path of another machine finds it by its name; a run with other weights is not taken."""
    source = ROOT / "reproductions" / "paper-cifar10-cpu" / "results" / "AT-Linf-2-a93c2870b7.json"
    copy = tmp_path / "elsewhere" / "paper-cifar10-cpu"
    (copy / "results").mkdir(parents=True)
    older = source.read_text().replace('"ref": "runs/', '"ref": "/work/cpu-run/reproductions/paper-cifar10-cpu/runs/')
    (copy / "results" / source.name).write_text(older)  # as an older file named it: a path of its machine
    shutil.copytree(source.parents[1] / "runs" / "AT-Linf-2-a93c2870b7", copy / "runs" / "AT-Linf-2-a93c2870b7")
    results = Results.read(copy / "results" / source.name)
    assert results.model.ref.startswith("/work/cpu-run/")  # as the machine that made it wrote it
    assert results.model_ref == str(copy / "runs" / "AT-Linf-2-a93c2870b7")
    sha = results.model.weights_sha256
    assert located(run_ref("AT-Linf-2-a93c2870b7"), sha, copy / "results" / "x.json") == results.model_ref
    assert located("runs/AT-Linf-2-a93c2870b7", "0" * 64, copy / "results" / "x.json") == "runs/AT-Linf-2-a93c2870b7"
    assert located("SomeZooId", sha, copy / "results" / "x.json") == "SomeZooId"
    meta = files.read_json(copy / "runs" / "AT-Linf-2-a93c2870b7" / "metadata.json")
    assert meta["weights_sha256"] == sha


def test_every_committed_results_file_names_its_run_so_that_any_checkout_finds_it():
    """tools/portable_refs.py --check: no results or analysis file of a reproduction names its run by an absolute
    path."""
    import subprocess
    import sys

    folders = ROOT / "reproductions"
    kinds = ("results/*.json", "extensions/*/*.json", "analysis/*.json")
    listed = sorted(str(p) for kind in kinds for p in folders.glob(f"*/{kind}"))
    done = subprocess.run(
        [sys.executable, "tools/portable_refs.py", "--check", *listed], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
