"""An unfinished run's checkpoint kept in git (sam_bench.kept_checkpoint): a new checkout made from git, as a
new session's is, resumes the run where it stopped, not from its start (the third GPU window lost SAM-0.4's
21 epochs so); a run whose epochs nothing can resume says so before it trains them again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench import files, kept_checkpoint
from sam_bench.cli import cli
from sam_bench.errors import SamBenchError

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--epochs", "2", "--arch", "preactresnet18", "--width", "0.125"]
TINY += ["--batch-size", "64", "--device", "cpu", "--quiet"]
RUN = Path("reproductions/grid/runs/ST-0")


def train(*args):
    result = CliRunner().invoke(cli, ["train", *TINY, *args])
    assert result.exit_code == 0, result.output
    return result


def git(repo: Path, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """A repository whose run stopped after 1 of 2 epochs, its checkpoint committed once with checkpoint.json
    and removed in the next commit (as `zoo keep` says), and a fresh clone of it: the checkpoint is not there."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    (repo / ".gitignore").write_text("checkpoint.pt\n")
    train("--out", str(repo / RUN), "--stop-after-epochs", "1")
    said = CliRunner().invoke(cli, ["zoo", "keep", str(repo / RUN.parent.parent)])
    assert said.exit_code == 0 and "after 1 epochs" in said.output, said.output
    git(repo, "add", "-A")
    git(repo, "add", "-f", str(RUN / "checkpoint.pt"))
    git(repo, "commit", "-qm", "the checkpoint, once")
    git(repo, "rm", "-q", "--cached", str(RUN / "checkpoint.pt"))
    git(repo, "commit", "-qm", "out of the tree")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / RUN / "checkpoint.pt").exists() and (clone / RUN / kept_checkpoint.KEPT).is_file()
    return repo, clone


def test_a_new_checkout_resumes_a_kept_run_where_it_stopped_bit_for_bit(kept, tmp_path, recwarn):
    repo, clone = kept
    train("--out", str(tmp_path / "straight"))  # the same run, never stopped
    train("--out", str(clone / RUN), "--resume")
    assert not [w for w in recwarn if "trains from its start" in str(w.message)]
    log = [json.loads(line) for line in (clone / RUN / "log.jsonl").read_text().splitlines()]
    first = json.loads((repo / RUN / "log.jsonl").read_text().splitlines()[0])
    assert [r["epoch"] for r in log] == [1, 2] and log[0] == first  # epoch 1 resumed, not trained again
    weights = [files.sha256_file(p / "model.safetensors") for p in (tmp_path / "straight", clone / RUN)]
    assert weights[0] == weights[1]
    # spent once the run is finished: keep removes its record
    CliRunner().invoke(cli, ["zoo", "keep", str(clone / RUN.parent.parent)])
    assert not (clone / RUN / kept_checkpoint.KEPT).exists()


def test_a_run_whose_checkpoint_is_neither_here_nor_kept_says_it_trains_from_its_start(kept):
    _, clone = kept
    (clone / RUN / kept_checkpoint.KEPT).unlink()
    assert kept_checkpoint.lost(clone / RUN) == 1
    with pytest.warns(UserWarning, match="1 epochs were trained, but their checkpoint.pt is not here nor kept"):
        train("--out", str(clone / RUN), "--resume")


def test_a_kept_checkpoint_the_run_has_moved_past_or_that_was_changed_is_refused(kept, tmp_path):
    _, clone = kept
    meta_path = clone / RUN / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "epochs_done": 2}))
    with pytest.raises(SamBenchError, match="keeps the checkpoint after 1 epochs, but the run stands at 2"):
        kept_checkpoint.restore(clone / RUN)
    meta_path.write_text(json.dumps(meta))
    record_path = clone / RUN / kept_checkpoint.KEPT
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "sha256": "0" * 64}))
    with pytest.raises(SamBenchError, match="does not match the recorded sha256"):
        kept_checkpoint.restore(clone / RUN)
    assert not (clone / RUN / "checkpoint.pt").exists()


def test_gpu_prepare_puts_kept_checkpoints_back_before_it_packs_the_inbox(kept):
    _, clone = kept
    sys.path.insert(0, str(ROOT / "tools"))
    import gpu_prepare

    assert gpu_prepare.checkpoints_back(clone / RUN.parent.parent) == ["checkpoint of ST-0 back from git"]
    assert gpu_prepare.unfinished_checkpoints(clone / RUN.parent.parent) == [clone / RUN / "checkpoint.pt"]
    (clone / RUN / "checkpoint.pt").unlink()
    (clone / RUN / kept_checkpoint.KEPT).unlink()
    (said,) = gpu_prepare.checkpoints_back(clone / RUN.parent.parent)
    assert said.startswith("warning: ST-0 stands at 1 epochs but no checkpoint of it is here or kept in git")


def test_a_copy_of_the_tree_without_its_history_cannot_restore_and_the_grid_goes_on(kept, tmp_path, monkeypatch):
    """On a lent GPU machine the tree comes without .git: a kept checkpoint that was not carried in cannot be
    had there (said in one line), and `reproduce` leaves that run for its checkpoint and goes on to the next."""
    import shutil

    from sam_bench.errors import WeightsNotHere
    from sam_bench.experiments import reproduction
    from sam_bench.experiments.reproduce import reproduce

    _, clone = kept
    copy = tmp_path / "copy"
    shutil.copytree(clone, copy, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(WeightsNotHere, match="not in the git history"):
        kept_checkpoint.restore(copy / RUN)

    recipe = tmp_path / "two.yaml"
    recipe.write_text(
        "name: two\ndataset: synthetic\n"
        "train: {arch: preactresnet18, width: 0.0625, epochs: 1, batch_size: 32, n_train: 64}\n"
        "models:\n  - {name: ST, method: standard}\n  - {name: SAM, method: sam}\n"
        "evaluation:\n  n_examples: 16\n  pgd: {steps: 1, Linf: {eps: [1/255]}}\nscales:\n  tiny: {publish: false}\n"
    )
    honest = reproduction.train

    def no_history_for_st(config, run_dir, **kwargs):
        if Path(run_dir).name.startswith("ST-"):
            raise WeightsNotHere(f"{run_dir}/checkpoint.pt: file not found; git blob 0123 is not in the git history")
        return honest(config, run_dir, **kwargs)

    monkeypatch.setattr(reproduction, "train", no_history_for_st)
    out = tmp_path / "grid"
    complete, _ = reproduce(str(recipe), "tiny", out=out, device="cpu", progress=False)
    assert not complete and list(out.glob("results/SAM-*.json")) and not list(out.glob("results/ST-*"))
