"""An unfinished run's checkpoint kept in git (kept_checkpoint.py): a new checkout made from git, as the next
window's session's is, gets it back before the run resumes, which then continues where it stopped, not from its
start; a run whose epochs nothing can resume is named before it trains them again; and a copy of the tree
without its history (the machine's) cannot restore it: the relay's reproduce call is refused in one line rather
than train that run from its start. The package itself knows nothing of kept checkpoints."""

import json
import subprocess
import sys
from pathlib import Path

import kept_checkpoint
import pytest
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.errors import SamBenchError

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
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
    and removed in the next commit (as `kept_checkpoint.py keep` says), and a fresh clone of it: the checkpoint is
    not there."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    (repo / ".gitignore").write_text("checkpoint.pt\n")
    train("--out", str(repo / RUN), "--stop-after-epochs", "1")
    said = kept_checkpoint.keep_folder(repo / RUN.parent.parent)
    assert len(said) == 1 and "after 1 epochs" in said[0], said
    git(repo, "add", "-A")
    git(repo, "add", "-f", str(RUN / "checkpoint.pt"))
    git(repo, "commit", "-qm", "the checkpoint, once")
    git(repo, "rm", "-q", "--cached", str(RUN / "checkpoint.pt"))
    git(repo, "commit", "-qm", "out of the tree")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / RUN / "checkpoint.pt").exists() and (clone / RUN / kept_checkpoint.KEPT).is_file()
    return repo, clone


def test_a_new_checkout_gets_the_kept_checkpoint_back_and_resumes_where_it_stopped_bit_for_bit(kept, tmp_path, recwarn):
    repo, clone = kept
    train("--out", str(tmp_path / "straight"))  # the same run, never stopped
    assert kept_checkpoint.restore_folder(clone / RUN.parent.parent) == ["checkpoint of ST-0 back from git"]
    train("--out", str(clone / RUN), "--resume")
    assert not [w for w in recwarn if "trains from its start" in str(w.message)]
    log = [json.loads(line) for line in (clone / RUN / "log.jsonl").read_text().splitlines()]
    first = json.loads((repo / RUN / "log.jsonl").read_text().splitlines()[0])
    assert [r["epoch"] for r in log] == [1, 2] and log[0] == first  # epoch 1 resumed, not trained again
    weights = [files.sha256_file(p / "model.safetensors") for p in (tmp_path / "straight", clone / RUN)]
    assert weights[0] == weights[1]
    # spent once the run is finished: keep removes its record
    assert kept_checkpoint.keep_folder(clone / RUN.parent.parent) == []
    assert not (clone / RUN / kept_checkpoint.KEPT).exists()


def test_the_package_alone_does_not_restore_it(kept):
    """`train --resume` reads no git: without the relay's restore it trains the kept run from its start, and
    says so in one line that names neither git nor the relay."""
    _, clone = kept
    with pytest.warns(UserWarning, match="1 epochs were trained, but their checkpoint.pt is not here: the run trains"):
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
    import gpu_prepare

    assert gpu_prepare.checkpoints_back(clone / RUN.parent.parent) == ["checkpoint of ST-0 back from git"]
    assert gpu_prepare.unfinished_checkpoints(clone / RUN.parent.parent) == [clone / RUN / "checkpoint.pt"]
    (clone / RUN / "checkpoint.pt").unlink()
    (clone / RUN / kept_checkpoint.KEPT).unlink()
    assert kept_checkpoint.lost(clone / RUN) == 1
    (said,) = gpu_prepare.checkpoints_back(clone / RUN.parent.parent)
    assert said.startswith("warning: ST-0 stands at 1 epochs but no checkpoint of it is here or kept in git")


def test_a_copy_of_the_tree_without_its_history_cannot_restore_and_the_relays_reproduce_is_refused(kept, tmp_path):
    """On the remote machine the tree comes without .git: a kept checkpoint that no `inbox` call carried in
    cannot be had there, and the reproduce call is refused in one line before it starts anything, rather than
    train that run from its start."""
    import os
    import shutil

    from sam_bench.errors import WeightsNotHere

    _, clone = kept
    copy = tmp_path / "copy"
    shutil.copytree(clone, copy, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(WeightsNotHere, match="not in the git history"):
        kept_checkpoint.restore(copy / RUN)
    assert kept_checkpoint.main(["restore", str(copy / RUN.parent.parent)]) == 2

    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    out.mkdir()
    env = {**os.environ, "HOME": str(home), "OUT": str(out), "PYTHON": sys.executable, "SAM_BENCH_COMMIT": "c0ffee"}
    relay = subprocess.run(
        [
            "bash",
            str(OPS / "gpu_relay.sh"),
            "reproduce",
            "--left",
            "20",
            "paper-cifar10",
            "smoke",
            "--out",
            "reproductions/grid",
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert relay.returncode == 3, relay.stdout + relay.stderr
    refused = [line for line in relay.stderr.splitlines() if line.startswith("relay:")]
    assert refused == ["relay: a kept checkpoint of reproductions/grid is not here: carry it in first (inbox calls)"]
    assert not any(out.iterdir()) and not (copy / "reproductions" / "relay-logs").exists()
    assert not (copy / RUN / "checkpoint.pt").exists()
