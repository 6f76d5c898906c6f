"""Shared state under concurrency: 4 processes write one zoo and one leaderboard at once
(files.locked around the zoo's id check and the leaderboard's read-merge-write), with `flock` and
without it (as on Lustre with localflock, BeeGFS, NFS mounted nolock)."""

import multiprocessing
import threading
from pathlib import Path

import pytest
import torch
from results_records import written, zoo_results

from sam_bench import files
from sam_bench.leaderboard import board as leaderboard
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo

WRITERS, EACH = 4, 5
BARRIER_S = 60
SHARED_ID = "SamBench2025Standard_shared"


def results_with_pgd(entry, eps: str, acc: float) -> dict:
    """A results record as `sam-bench evaluate` writes it: AutoAttack plus one PGD budget."""
    return zoo_results(entry, 0.5, 0.1, n=100, pgd=[(eps, acc)])


def no_flock(*args, **kwargs):
    import errno

    raise OSError(errno.ENOLCK, "No locks available")


def writer(index, run_dirs, zoo_root, boards, start, rounds, flock=True):
    # (a writer that fails breaks the barriers after their timeout, so that the others end too)
    if not flock:  # this process's file system has no flock: whatever relied on it fails
        import fcntl

        fcntl.flock = fcntl.lockf = no_flock
    start.wait(BARRIER_S)  # all four add to the zoo together, then all four update one leaderboard entry together
    shared = zoo.find_entry(SHARED_ID, zoo_root / "shared")
    for j in range(EACH):
        # No --id: all four runs suggest the same id, so each writer must see the others' entries
        # before it takes a free one (without the zoo lock, two of them take the same id and one is lost)
        rounds.wait(BARRIER_S)
        zoo.add(run_dirs[index], zoo_dir=zoo_root / f"round{j}", precision="fp32")
    start.wait(BARRIER_S)
    for j in range(EACH):
        budget = index * EACH + j + 1
        results = results_with_pgd(shared, f"{budget}/255", budget / 100)
        path = written(results, boards.parent / f"results-of-writer{index}-{j}")  # an entry names its file
        leaderboard.write_entries([path], boards, zoo_root / "shared")


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Four runs whose ids agree (n_train is not in an id) and weights differ, trained once for both tests."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    for index in range(WRITERS):
        config = TrainConfig(
            arch="preactresnet18",
            width=0.125,
            epochs=1,
            n_train=64 + 16 * index,
            batch_size=64,
            dataset="cifar10-sample",
        )
        train(config, root / f"run{index}", progress=False)
    return [root / f"run{index}" for index in range(WRITERS)]


@pytest.mark.parametrize("flock", [True, False], ids=["flock", "no-flock"])
def test_four_writers_lose_no_zoo_entry_and_no_leaderboard_update(tmp_path, monkeypatch, flock, run_dirs):
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    zoo_root, boards = tmp_path / "zoos", tmp_path / "leaderboards"
    zoo.add(run_dirs[0], SHARED_ID, zoo_dir=zoo_root / "shared", precision="fp32")

    context = multiprocessing.get_context("spawn")
    start, rounds = context.Barrier(WRITERS + 1), context.Barrier(WRITERS)
    procs = [
        context.Process(target=writer, args=(i, run_dirs, zoo_root, boards, start, rounds, flock))
        for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(BARRIER_S)
        start.wait(BARRIER_S)
    except threading.BrokenBarrierError:
        pass  # a writer failed: the exit codes below say so
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    for j in range(EACH):  # every round: four entries, one per run, each whole (weights verify)
        entries = zoo.list_entries(zoo_dir=zoo_root / f"round{j}")
        assert sorted(e["added"]["from_run"] for e in entries) == sorted(str(r) for r in run_dirs)
        assert len({e["id"] for e in entries}) == WRITERS
        for entry in entries:
            zoo.load_model(entry["id"], zoo_dir=zoo_root / f"round{j}")
    board = files.read_json(boards / "cifar10" / "Linf" / f"{SHARED_ID}.json")
    budgets = sorted(int(p["eps"].split("/")[0]) for p in board["sam_bench"]["pgd"])
    assert budgets == list(range(1, WRITERS * EACH + 1))  # no read-merge-write lost to another writer
    assert len(board["sam_bench"]["sources"]) == WRITERS * EACH
    assert not list(tmp_path.rglob("*.tmp"))


def test_locked_serialises_and_times_out_with_one_line(tmp_path):
    import os

    from sam_bench.errors import SamBenchError
    from sam_bench.jobs import lease

    target = tmp_path / "thing"
    holder = lease.try_claim(f"{target}.claim")  # held by a live process: this one
    try:
        with pytest.raises(SamBenchError, match=f"still locked by process {os.getpid()} on"):
            with files.locked(target, timeout=0.2):
                pass
    finally:
        holder.release()
    with files.locked(target, timeout=0.2):
        assert (tmp_path / "thing.claim").exists()
    assert not (tmp_path / "thing.claim").exists()  # released: nothing left behind


def test_a_zoo_add_reads_robustbench_ids_before_it_takes_the_zoos_lock(tmp_path, monkeypatch, run_dirs):
    """Their first reading in a process imports robustbench and timm (seconds): under the lock, concurrent
    writers would wait for each other's imports in turn."""
    from sam_bench import compat
    from sam_bench.jobs import lease

    zoo_dir = tmp_path / "zoo"
    claim = Path(f"{zoo_dir}{lease.CLAIM_SUFFIX}")  # what files.locked holds while the zoo is locked
    lock_held = []
    monkeypatch.setattr(compat, "robustbench_models", lambda: lock_held.append(claim.exists()) or {})
    entry = zoo.add(run_dirs[0], zoo_dir=zoo_dir, precision="fp32")
    assert lock_held[0] is False  # read before the lock was taken
    assert zoo.find_entry(entry["id"], zoo_dir)["id"] == entry["id"] and not claim.exists()
