"""ops/remote-gpu/gpu_weights.py and the relay's `weights` call: the committed weights a GPU window must evaluate
(first seeds' zoo weights, later seeds' own run weights) travel named by their sha256, in parts that fit a call
beside the tree, and land in the machine's weights cache only if each file is what its name says; there the zoo
and a kept run find them without a git history."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sam_bench.rundir import blobs

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
RELAY = OPS / "gpu_relay.sh"

import gpu_data_parts  # noqa: E402
import gpu_weights  # noqa: E402


def test_the_full_scales_models_to_evaluate_are_the_ones_whose_results_lack_attacks_or_are_not_written():
    wanted = {e["id"] for e in gpu_weights.wanted(gpu_weights.FOLDER)}
    # ST and SAM-0.1 were evaluated before the full scale gained AutoAttack's APGD-CE + APGD-T at the claims'
    # budgets (SAM-0.1 before the standard version there too); SAM-0.4's evaluation was stopped mid-way (no results
    # file yet); AT-Linf-8 is not trained yet (no zoo entry)
    assert wanted == {"SamBench2026Standard_PRN18", "SamBench2026SAM_PRN18_rho0.1", "SamBench2026SAM_PRN18_rho0.4"}
    every = {e["id"] for e in gpu_weights.wanted(gpu_weights.FOLDER, every=True)}
    assert every == wanted
    # a window that works on some models only (reproduce's --only) carries theirs only
    assert {e["id"] for e in gpu_weights.wanted(gpu_weights.FOLDER, only=["ST:0", "SAM-0.4"])} == {
        "SamBench2026Standard_PRN18",
        "SamBench2026SAM_PRN18_rho0.4",
    }
    assert gpu_weights.wanted(gpu_weights.FOLDER, only=["ST:2", "SAM-0.1:2"]) == []


def test_the_parts_fit_a_call_beside_the_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_weights, "OUT", tmp_path / ".weights")
    assert gpu_weights.main([]) == 0
    parts = sorted((tmp_path / ".weights").iterdir())
    tree = gpu_data_parts.tree_bytes(ROOT)
    names = []
    for part in parts:
        assert tree + gpu_data_parts.path_bytes(part) <= gpu_data_parts.CALL_LIMIT - gpu_data_parts.MARGIN
        for f in part.iterdir():
            assert hashlib.sha256(f.read_bytes()).hexdigest() + ".safetensors" == f.name
            names.append(f.name)
    assert len(names) == 3


def relay_weights(call_dir: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(call_dir), "OUT": str(call_dir / "out"), "SAM_BENCH_CACHE": str(cache)}
    return subprocess.run(
        ["bash", str(RELAY), "weights", "--left", "10"], cwd=call_dir, env=env, capture_output=True, text=True
    )


def test_the_relay_takes_only_files_that_are_what_their_names_say(tmp_path, monkeypatch):
    data = b"weights of a model"
    sha = hashlib.sha256(data).hexdigest()
    call = tmp_path / "call"
    (call / ".weights" / "part-1").mkdir(parents=True)
    (call / ".weights" / "part-1" / f"{sha}.safetensors").write_bytes(data)
    cache = tmp_path / "cache"
    taken = relay_weights(call, cache)
    assert taken.returncode == 0 and "1 files in the machine's weights cache" in taken.stdout, taken.stderr
    monkeypatch.setenv("SAM_BENCH_CACHE", str(cache))
    # where the zoo looks once the tree has no file and no git history can give it
    found, source = blobs.materialise(tmp_path / "nowhere" / "m.safetensors", sha, git_blob="0" * 40)
    assert source == "cache" and found.read_bytes() == data
    shutil.rmtree(cache)
    (call / ".weights" / "part-1" / f"{sha}.safetensors").write_bytes(b"something else")
    refused = relay_weights(call, cache)
    assert refused.returncode == 3 and "not the one its name gives: not taken" in refused.stderr
    assert not list(cache.rglob("*.safetensors"))
    shutil.rmtree(call / ".weights")
    assert relay_weights(call, cache).returncode == 2


FULL = ROOT / "reproductions" / "paper-cifar10-full"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]


def later_seed_folder(where: Path) -> tuple[Path, Path]:
    """A copy of the full scale's plan with ST's seed 1 trained and not yet evaluated (its weights just unpacked into
    the tree, not yet kept), SAM-0.1's seed 1 still training, and ST's first seed's run with its weights; in a git
    repository of its own."""
    from sam_bench.recipes.recipe import load_recipe

    folder = where / "repro"
    (folder / "results").mkdir(parents=True)
    shutil.copy2(FULL / "plan.json", folder / "plan.json")
    plans = {(m.name, m.seed): m for m in load_recipe("paper-cifar10", "full", device="cuda").models}
    metadata = json.loads((FULL / "runs" / "ST-2f379c4eaf" / "metadata.json").read_text())
    for (name, seed), status in ((("ST", 1), "complete"), (("SAM-0.1", 1), "running"), (("ST", 0), "complete")):
        run = folder / "runs" / plans[(name, seed)].run_name
        run.mkdir(parents=True)
        weights = f"fp32 weights of {name} seed {seed}".encode()
        (run / "model.safetensors").write_bytes(weights)
        record = {**metadata, "status": status, "weights_sha256": hashlib.sha256(weights).hexdigest()}
        (run / "metadata.json").write_text(json.dumps(record))
    subprocess.run(["git", "init", "-q", str(where)], check=True)
    return folder, folder / "runs" / plans[("ST", 1)].run_name


def test_a_later_seed_still_to_evaluate_travels_with_its_own_weights_from_the_tree_or_from_git(
    tmp_path, monkeypatch, capsys
):
    """A later seed is not published to the zoo: the next window evaluates it from its own fp32 run weights. Just
    unpacked, they are in the tree: gpu_weights keeps them (weights.json, as `zoo keep` writes it) and carries them;
    once committed and removed from the tree, it carries them from git by that record. On the machine, after the
    relay's `weights` call, the kept run finds them in the weights cache, without the file or a git history. A
    later seed still training and a first seed's run are not carried; weights that are neither in the tree nor
    kept are refused in one line."""
    assert all(not plan.primary for plan in gpu_weights.later_seeds(gpu_weights.FOLDER))  # the full scale's own
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gpu_weights, "OUT", tmp_path / ".weights")
    folder, run = later_seed_folder(tmp_path)
    assert [(p.name, p.seed) for p in gpu_weights.later_seeds(folder)] == [("ST", 1)]
    assert [(p.name, p.seed) for p in gpu_weights.later_seeds(folder, ["ST:1"])] == [("ST", 1)]
    assert gpu_weights.later_seeds(folder, ["ST:2", "SAM-0.1"]) == []
    sha = hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert gpu_weights.main([str(folder)]) == 0
    out, err = capsys.readouterr()
    assert f"kept {run.name}'s weights (weights.json written" in err and "(ST seed 1)" in out
    carried = [f.name for f in (tmp_path / ".weights").rglob("*.safetensors")]
    assert carried == [f"{sha}.safetensors"]
    from sam_bench.zoo import runs

    kept = json.loads((run / "weights.json").read_text())
    assert kept == runs.keep(run)  # what `sam-bench zoo keep` writes
    # committed once with its record, then out of the tree: from git
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(tmp_path), "commit", "-q", "-m", "kept"], check=True)
    (run / "model.safetensors").unlink()
    shutil.rmtree(tmp_path / ".weights")
    assert gpu_weights.main([str(folder)]) == 0
    assert "kept" not in capsys.readouterr().err
    part = next((tmp_path / ".weights").iterdir())
    assert [f.name for f in part.iterdir()] == [f"{sha}.safetensors"]
    # the machine: a copy of the tree (the run's metadata and weights.json, no weights file, no .git)
    machine = tmp_path / "machine"
    (machine / ".weights").mkdir(parents=True)
    shutil.copytree(part, machine / ".weights" / "part-1")
    shutil.copytree(run, machine / "run", ignore=shutil.ignore_patterns("model.safetensors"))
    cache = tmp_path / "machine-cache"
    taken = relay_weights(machine, cache)
    assert taken.returncode == 0, taken.stderr
    monkeypatch.setenv("SAM_BENCH_CACHE", str(cache))
    from sam_bench.rundir.model import read_metadata, weights_path

    found, source = weights_path(machine / "run", read_metadata(machine / "run"))
    assert source == "cache" and hashlib.sha256(found.read_bytes()).hexdigest() == sha
    # lost: neither in the tree nor kept
    (run / "weights.json").unlink()
    with pytest.raises(SystemExit, match="neither in the tree nor kept in git"):
        gpu_weights.main([str(folder)])
