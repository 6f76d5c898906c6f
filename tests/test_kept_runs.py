"""Every trained model kept: a run's weights committed once and dropped from the tree load
again from the git history, checked; `zoo verify --runs` checks every results file's weights."""

import json
import shutil
import subprocess

import pytest
import torch
from click.testing import CliRunner
from tiny_training import tiny

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.data import load_dataset
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes, recheck
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.specs import make_attacks
from sam_bench.rundir.model import load_run
from sam_bench.training.loop import train
from sam_bench.zoo import runs


def git(where, *args):
    return subprocess.run(["git", *args], cwd=where, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A reproduction folder in a git repository: one finished run and its results file."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))  # never the user's cache
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    folder = repo / "reproductions" / "grid-test"
    torch.set_num_threads(1)
    train(tiny(method="standard", epochs=1), folder / "runs" / "ST-abc", progress=False)
    model, info = load_model_ref(str(folder / "runs" / "ST-abc"))
    results = evaluate(
        model, load_dataset("synthetic"), make_attacks("clean"), n_examples=32, model_info=info, progress=False
    )
    results["reproduce"] = {"run": "ST-abc", "model": "ST", "seed": 0}
    files.write_json(folder / "results" / "ST-abc.json", results)
    return folder


def test_weights_kept_in_git_come_back_checked(folder):
    run = folder / "runs" / "ST-abc"
    original = (run / "model.safetensors").read_bytes()
    kept = runs.keep_folder(folder)
    assert [r for r, _ in kept] == [run]
    record = json.loads((run / "weights.json").read_text())
    assert record["sha256"] == json.loads((run / "metadata.json").read_text())["weights_sha256"]
    repo = folder.parent.parent
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "the run and its weights, once")
    assert (
        git(repo, "rev-parse", "HEAD:reproductions/grid-test/runs/ST-abc/model.safetensors").strip()
        == record["git_blob"]
    )
    git(repo, "rm", "-q", "reproductions/grid-test/runs/ST-abc/model.safetensors")
    git(repo, "commit", "-qm", "the weights leave the tree")
    assert not (run / "model.safetensors").exists()
    [(_, ok, message)] = runs.verify(folder)
    assert ok and message.endswith("(git)")  # from the git history, checked, cached
    model, _ = load_run(run)
    assert runs.verify(folder)[0][2].endswith("(cache)")
    again = load_run(run)[0]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    from safetensors.torch import load

    stored = load(original)
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items() if k in stored)


def test_a_run_without_kept_weights_fails_verification_in_one_line(folder):
    (folder / "runs" / "ST-abc" / "model.safetensors").unlink()  # trained before runs were kept
    [(name, ok, message)] = runs.verify(folder)
    assert name == "results/ST-abc.json" and not ok and "are not kept" in message and "\n" not in message
    result = CliRunner().invoke(cli, ["zoo", "verify", "--runs", str(folder)])
    assert result.exit_code != 0 and "FAIL results/ST-abc.json" in result.output
    assert "1 of 1 results files failed verification" in result.output


def test_an_edited_record_is_refused(folder):
    run = folder / "runs" / "ST-abc"
    runs.keep(run)
    shutil.move(run / "model.safetensors", folder / "elsewhere.safetensors")
    record = json.loads((run / "weights.json").read_text())
    (run / "weights.json").write_text(json.dumps({**record, "sha256": "0" * 64}))
    with pytest.raises(SamBenchError, match="names other weights than"):
        load_run(run)
    [(_, ok, _)] = runs.verify(folder)
    assert not ok


def test_keep_and_verify_from_the_command_line(folder):
    runner = CliRunner()
    kept = runner.invoke(cli, ["zoo", "keep", str(folder)])
    assert kept.exit_code == 0 and "1 runs' weights kept" in kept.output
    checked = runner.invoke(cli, ["zoo", "verify", "--runs", str(folder)])
    assert checked.exit_code == 0 and "1 results files verified" in checked.output
    both = runner.invoke(cli, ["zoo", "verify", "X", "--runs", str(folder)])
    assert both.exit_code != 0 and "not both" in both.output
    nowhere = runner.invoke(cli, ["zoo", "keep", str(folder / "runs")])
    assert nowhere.exit_code != 0 and "not a reproduction folder" in nowhere.output


def test_lost_weights_come_back_from_a_bit_identical_retrain(folder, tmp_path):
    """A run whose weights were never kept takes a retrained copy's weights only when they are exactly
    the recorded ones; another training's are refused."""
    run = folder / "runs" / "ST-abc"
    retrained = tmp_path / "retrained"
    shutil.copytree(folder, retrained)
    (run / "model.safetensors").unlink()
    other = tmp_path / "other"
    train(tiny(method="standard", epochs=1, seed=5), other, progress=False)  # not these weights
    shutil.copy(other / "model.safetensors", tmp_path / "wrong.safetensors")
    wrong = tmp_path / "wrong-folder"
    shutil.copytree(retrained, wrong)
    shutil.copy(tmp_path / "wrong.safetensors", wrong / "runs" / "ST-abc" / "model.safetensors")
    assert runs.restore_folder(folder, wrong) == [] and runs.keep_folder(folder) == []
    assert not (run / "model.safetensors").exists()
    kept = CliRunner().invoke(cli, ["zoo", "keep", str(folder), "--from", str(retrained)])
    assert kept.exit_code == 0 and "1 runs' weights kept" in kept.output
    assert f"restored {run} from {retrained} (the same sha256); per-image outcomes equal in 1 of 1" in kept.output
    assert (run / "model.safetensors").read_bytes() == (
        retrained / "runs" / "ST-abc" / "model.safetensors"
    ).read_bytes()
    assert runs.verify(folder)[0][1]


def test_a_reused_run_is_verified_by_the_weights_kept_where_it_came_from(folder):
    """A later folder that reuses a run (its reused.json names the run it came from, without weights) verifies
    the results file by the weights kept in that run's folder; with none kept there it fails."""
    later = folder.parent / "grid-later"
    (later / "runs" / "ST-abc").mkdir(parents=True)
    shutil.copy(folder / "runs" / "ST-abc" / "metadata.json", later / "runs" / "ST-abc")
    files.write_json(
        later / "runs" / "ST-abc" / "reused.json",
        {"from": "reproductions/grid-test/runs/ST-abc", "results": "reproductions/grid-test/results/ST-abc.json"},
    )
    shutil.copytree(folder / "results", later / "results")
    [(_, ok, message)] = runs.verify(later)
    assert ok and "grid-test/runs/ST-abc/model.safetensors" in message
    (folder / "runs" / "ST-abc" / "model.safetensors").unlink()
    [(_, ok, message)] = runs.verify(later)
    assert not ok and "are not kept" in message


def test_a_restored_run_whose_retrain_classified_other_images_is_named(folder, tmp_path):
    """zoo keep --from compares the retrain's per-image outcomes with the recorded ones: an evaluation whose
    images came out otherwise (or that the retrain lacks) is named, with how many of the recorded differ."""
    retrained = tmp_path / "retrained"
    shutil.copytree(folder, retrained)
    (folder / "runs" / "ST-abc" / "model.safetensors").unlink()
    results = files.read_json(retrained / "results" / "ST-abc.json")
    [clean] = results["evaluations"]
    flipped = outcomes.decode(clean["outcomes"])
    flipped[3] = not flipped[3]
    clean["outcomes"] = outcomes.encode(flipped)
    files.write_json(retrained / "results" / "ST-abc.json", results)
    kept = CliRunner().invoke(cli, ["zoo", "keep", str(folder), "--from", str(retrained)])
    assert kept.exit_code == 0 and "per-image outcomes differ in 1 of 1 recorded evaluations: clean" in kept.output
    recorded = files.read_json(folder / "results" / "ST-abc.json")
    assert recheck.outcomes_compared(recorded, {"evaluations": []}) == ([], ["clean"])
    assert recheck.outcomes_compared(recorded, recorded) == (["clean"], [])
    files.write_json(folder / "results" / "ST-abc.json", {**recorded, "evaluations": []})  # nothing recorded
    in_both = [where / "results" / "ST-abc.json" for where in (folder, retrained)]
    assert recheck.restored_outcomes(*in_both).endswith("(the recorded results hold none)")
