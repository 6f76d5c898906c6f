"""ops/remote-gpu/gpu_prepare.py: a window's calls in README.md's order, from what the workstation made ready, each
within a call's 64 MiB with the tree; the reproduce call names the commit it sends, and a tree whose sam_bench/
differs from that commit is not sent; and which checkpoints the reproduce call must be carried."""

import json
import shutil
import subprocess
from pathlib import Path

import gpu_prepare
import pytest

MIB = 1 << 20
REPRODUCE = gpu_prepare.reproduce_command("c0ffee", options=("--data-dir", "~/c10", "--parallel", "2"))


def checkout(tmp_path: Path, sizes: dict[str, int]) -> Path:
    """A small git checkout whose ignored folders hold files of these sizes (path -> MiB)."""
    root = tmp_path / "checkout"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text("/.data/\n/.weights/\n/.relay-in/\n/.vendor/\n")
    (root / "tracked.txt").write_bytes(b"x" * MIB)  # the tree: 1 MiB and the .gitignore
    for name, mib in sizes.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"\0" * int(mib * MIB))
    return root


def test_the_reproduce_call_names_its_commit_and_leaves_its_minutes_to_the_relay():
    assert REPRODUCE == (
        "SAM_BENCH_COMMIT=c0ffee ops/remote-gpu/gpu_relay.sh reproduce --left L paper-cifar10 full --batches 2"
        " --data-dir ~/c10 --parallel 2"
    )
    assert "--max-minutes" not in REPRODUCE
    shorter = gpu_prepare.reproduce_command("c", scale="smoke", batches=5, at_most=0.05)
    assert " smoke --at-most 0.05 --batches 5" in shorter


def test_with_a_run_to_carry_in_the_last_data_part_goes_alone_and_reproduce_carries_the_inbox(tmp_path):
    root = checkout(
        tmp_path,
        {
            ".data/part-1/a": 40,
            ".data/part-2/b": 40,
            ".data/part-10/c": 40,  # numbered, not sorted as text
            ".weights/part-1/w.safetensors": 42,
            ".relay-in/batch-1/p": 45,
            ".relay-in/batch-2/p": 41,
            ".vendor/pyautoattack/x.py": 0.1,
        },
    )
    made = gpu_prepare.calls(root, REPRODUCE)
    assert [(c.command.split(" --left")[0], c.carry) for c in made] == [
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-1"]),
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-2"]),
        ("ops/remote-gpu/gpu_relay.sh weights", [".weights/part-1"]),
        ("ops/remote-gpu/gpu_relay.sh inbox", [".relay-in/batch-1"]),
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-10"]),
        ("SAM_BENCH_COMMIT=c0ffee ops/remote-gpu/gpu_relay.sh reproduce", [".relay-in/batch-2", ".vendor"]),
    ]
    assert made[4].command.endswith("--last") and made[5].command == REPRODUCE
    assert all(c.sent <= 64 * MIB for c in made) and made[2].sent > 42 * MIB  # the tree is counted too


def test_without_one_reproduce_goes_with_the_last_data_part_and_a_call_too_big_is_refused(tmp_path):
    root = checkout(tmp_path, {".data/part-1/a": 40, ".data/part-2/b": 40})
    made = gpu_prepare.calls(root, REPRODUCE)
    assert len(made) == 2
    assert made[1].command == f"ops/remote-gpu/gpu_relay.sh data --left L --last && {REPRODUCE}"
    assert made[1].carry == [".data/part-2", ".vendor"]
    (root / ".weights" / "part-1").mkdir(parents=True)
    (root / ".weights" / "part-1" / "big").write_bytes(b"\0" * 64 * MIB)
    with pytest.raises(gpu_prepare.Refused, match="weights --left L would carry .* MiB, over 64"):
        gpu_prepare.calls(root, REPRODUCE)
    (root / ".weights" / "part-1" / "big").unlink()
    shutil.rmtree(root / ".data")
    with pytest.raises(gpu_prepare.Refused, match="no .data/part-K"):
        gpu_prepare.calls(root, REPRODUCE)


def test_a_tree_whose_package_differs_from_its_commit_is_not_sent(tmp_path):
    root = checkout(tmp_path, {})
    (root / "sam_bench").mkdir()
    (root / "sam_bench" / "code.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "code"], cwd=root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    (root / "notes.txt").write_text("outside the package: the runs' code is still the commit's\n")
    assert gpu_prepare.commit_to_send(root) == head
    (root / "sam_bench" / "code.py").write_text("x = 2\n")  # changed
    with pytest.raises(gpu_prepare.Refused, match="sam_bench/ differs from the commit checked out"):
        gpu_prepare.commit_to_send(root)
    subprocess.run(["git", "checkout", "-q", "--", "sam_bench"], cwd=root, check=True)
    (root / "sam_bench" / "new.py").write_text("y = 1\n")  # untracked: it would travel too
    with pytest.raises(gpu_prepare.Refused, match="1 files: \\?\\? sam_bench/new.py"):
        gpu_prepare.commit_to_send(root)


def test_only_the_checkpoints_of_unfinished_runs_the_call_works_on_are_carried(tmp_path):
    assert gpu_prepare.unfinished_checkpoints(tmp_path, ["ST"]) == []  # no runs yet: no plan.json either
    models = []
    for name, seed, status in (("ST", 0, "complete"), ("ST", 1, "running"), ("SAM", 1, None), ("AT", 0, "running")):
        run = tmp_path / "runs" / f"{name}-{seed}"
        run.mkdir(parents=True)
        (run / "checkpoint.pt").write_bytes(b"")
        if status:
            (run / "metadata.json").write_text(json.dumps({"status": status}))
        models.append({"name": name, "key": str(seed), "seed": seed})
    (tmp_path / "plan.json").write_text(json.dumps({"models": models}))
    assert [p.parent.name for p in gpu_prepare.unfinished_checkpoints(tmp_path)] == ["AT-0", "SAM-1", "ST-1"]
    assert [p.parent.name for p in gpu_prepare.unfinished_checkpoints(tmp_path, ["ST", "SAM:1"])] == ["SAM-1", "ST-1"]
    assert [p.parent.name for p in gpu_prepare.unfinished_checkpoints(tmp_path, ["ST:0", "AT:1"])] == []
