"""ops/remote-gpu/gpu_prepare.py: a window's calls in WINDOWS.md's order, from what the workstation made ready, each
within a call's 64 MiB with the tree; and which checkpoints the next stint must be carried."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"

import gpu_prepare  # noqa: E402
import gpu_window  # noqa: E402

MIB = 1 << 20


def checkout(tmp_path: Path, sizes: dict[str, int]) -> Path:
    """A small git checkout whose ignored folders hold files of these sizes (path -> MiB)."""
    root = tmp_path / "checkout"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text("/.data/\n/.weights/\n/.relay-in/\n/.vendor/\n/COMMIT\n")
    (root / "tracked.txt").write_bytes(b"x" * MIB)  # the tree: 1 MiB and the .gitignore
    for name, mib in sizes.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"\0" * int(mib * MIB))
    return root


def test_with_a_run_to_carry_in_the_last_data_part_goes_alone_and_the_start_carries_the_inbox(tmp_path):
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
            "COMMIT": 0.001,
        },
    )
    made = gpu_prepare.calls(root)
    assert [(c.command.split(" --left")[0], c.carry) for c in made] == [
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-1"]),
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-2"]),
        ("ops/remote-gpu/gpu_relay.sh weights", [".weights/part-1"]),
        ("ops/remote-gpu/gpu_relay.sh inbox", [".relay-in/batch-1"]),
        ("ops/remote-gpu/gpu_relay.sh data", [".data/part-10"]),
        ("ops/remote-gpu/gpu_relay.sh start", [".relay-in/batch-2", ".vendor", "COMMIT"]),
        ("ops/remote-gpu/gpu_relay.sh test", [".vendor", "COMMIT"]),
        ("ops/remote-gpu/gpu_relay.sh wait", []),
    ]
    assert made[4].command.endswith("--last") and "--parallel 1" in made[5].command
    assert all(c.sent <= 64 * MIB for c in made) and made[2].sent > 42 * MIB  # the tree is counted too


def test_without_one_the_stint_starts_with_the_last_data_part_and_a_call_too_big_is_refused(tmp_path):
    root = checkout(tmp_path, {".data/part-1/a": 40, ".data/part-2/b": 40, "COMMIT": 0.001})
    made = gpu_prepare.calls(root, parallel=2)
    assert [c.command.split(" --left")[0] for c in made[2:]] == [
        "ops/remote-gpu/gpu_relay.sh test",
        "ops/remote-gpu/gpu_relay.sh wait",
    ]
    assert made[1].command.startswith(
        "ops/remote-gpu/gpu_relay.sh data --left L --last && ops/remote-gpu/gpu_relay.sh start"
    )
    assert made[1].command.endswith("--parallel 2") and made[1].carry == [".data/part-2", ".vendor", "COMMIT"]
    (root / ".weights" / "part-1").mkdir(parents=True)
    (root / ".weights" / "part-1" / "big").write_bytes(b"\0" * 64 * MIB)
    with pytest.raises(SystemExit, match="weights --left L would carry .* MiB, over 64"):
        gpu_prepare.calls(root)
    (root / ".weights" / "part-1" / "big").unlink()
    shutil.rmtree(root / ".data")
    with pytest.raises(SystemExit, match="no .data/part-K"):
        gpu_prepare.calls(root)


def test_only_the_checkpoints_of_unfinished_runs_are_carried(tmp_path):
    for name, status in (("done", "complete"), ("half", "running"), ("new", None)):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        (run / "checkpoint.pt").write_bytes(b"")
        if status:
            (run / "metadata.json").write_text(json.dumps({"status": status}))
    assert [p.parent.name for p in gpu_prepare.unfinished_checkpoints(tmp_path)] == ["half", "new"]


def test_until_its_record_is_committed_a_window_measures_the_attacks_search_beside_its_stint(tmp_path):
    """The attacks' search measured beside a stint (gpu_search_math.py): the call comes after the GPU tests and
    before the waits, and the zoo model it attacks has its weights carried by the `weights` call (gpu_weights.py
    --model)."""
    root = checkout(tmp_path, {".data/part-1/a": 40, ".weights/part-1/w.safetensors": 1, "COMMIT": 0.001})
    made = gpu_prepare.calls(root, search_math=True)
    commands = [c.command for c in made]
    assert commands.index(gpu_prepare.SEARCH_MATH_CALL) == len(commands) - 2
    assert "ops/remote-gpu/gpu_relay.sh test" in commands[-3] and made[-2].carry == [".vendor", "COMMIT"]
    assert gpu_prepare.SEARCH_MATH_MODEL in gpu_prepare.SEARCH_MATH_CALL and "$OUT/" in gpu_prepare.SEARCH_MATH_CALL
    assert not gpu_prepare.search_math_measured(root)
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "nvidia-h200-search-math.json").write_text("{}")
    assert gpu_prepare.search_math_measured(root)


def test_until_k_models_at_once_are_measured_the_window_starts_with_their_probe_alone(tmp_path):
    """The probe of K models at once goes first, before anything runs on the device (a stint beside it would be
    measured with it); the stint's K and the batches its K checkpoints need are left to set from its record."""
    root = checkout(tmp_path, {".data/part-1/a": 40, ".data/part-2/b": 40, "COMMIT": 0.001})
    made = gpu_prepare.calls(root, parallel=None, probe=True)
    assert made[0].command == gpu_window.ARRANGEMENT_PROBE_CALL and made[0].carry == [".vendor", "COMMIT"]
    assert [c.command.split(" --left")[0] for c in made[1:]] == [
        "ops/remote-gpu/gpu_relay.sh data",
        "ops/remote-gpu/gpu_relay.sh data",
        "ops/remote-gpu/gpu_relay.sh test",
        "ops/remote-gpu/gpu_relay.sh wait",
    ]
    assert " full --batches B --data-dir ~/c10 --device cuda --parallel K" in made[2].command
    two = gpu_prepare.calls(root, parallel=2)
    assert two[1].command.endswith(" full --batches 4 --data-dir ~/c10 --device cuda --parallel 2")
    assert gpu_window.ARRANGEMENT_PROBE_MINUTES > gpu_window.ARRANGEMENT_PROBE_BUDGET_S / 60


def test_the_stint_is_given_the_batches_the_plan_sizes_its_next_window_for(tmp_path, capsys):
    """`--batches B` of the window's `start`: what the plan's next window sizes its stint for (at least K
    checkpoints' and two zoo entries', more where its stint trains later seeds: their own weights come back);
    `gpu_plan.py --batches K` prints it for a stint whose K is chosen from the probe call."""
    import gpu_plan
    import gpu_schedule

    root = checkout(tmp_path, {".data/part-1/a": 40, "COMMIT": 0.001})
    assert f"--batches {gpu_window.batches_for(2)} " in gpu_prepare.calls(root, parallel=2)[0].command
    assert "--batches 6 " in gpu_prepare.calls(root, parallel=2, batches=6)[0].command
    for state in (None, "none"):
        batches = gpu_plan.next_stint_batches(1, state=state)
        assert batches >= gpu_window.batches_for(1)
    # before any window, its first stint trains ST's and the SAMs' first seeds: zoo entries and a checkpoint
    from gpu_costs import model_costs, probe_steps

    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    probe = str(gpu_plan.DOCS_PROBE)
    choice = choose(*(read(gpu_plan.ROOT / p) for p in gpu_plan.docs_probes()))
    models = model_costs(None, probe_steps(probe)[0], choice, gpu_plan.probe_attack_rates(probe))
    ((calls, _),) = gpu_schedule.plan(models, 1)
    assert gpu_plan.next_stint_batches(1, state="none") == next(c.sends for c in calls if c.stint) + 1
    assert gpu_plan.main(["--batches", "1", "--state", "none"]) == 0
    assert capsys.readouterr().out == f"--batches {gpu_plan.next_stint_batches(1, state='none')}\n"
