"""ops/remote-gpu/gpu_weights.py and the relay's `weights` call: the committed zoo weights a GPU stint must evaluate
again travel named by their sha256, in parts that fit a call beside the tree, and land in the machine's
weights cache only if each file is what its name says; there the zoo finds them without a git history."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

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
    # a zoo model named with --model travels too (ops/remote-gpu/gpu_search_math.py's AT model)
    from sam_bench.zoo.store import find_entry

    extra = find_entry("SamBench2026AT_PRN18-w0.125_Linf-8")["weights"]["sha256"] + ".safetensors"
    assert gpu_weights.main(["--model", "SamBench2026AT_PRN18-w0.125_Linf-8"]) == 0
    carried = sorted(f.name for part in (tmp_path / ".weights").iterdir() for f in part.iterdir())
    assert carried == sorted([*names, extra])


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
