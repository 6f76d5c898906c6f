"""Shared state under concurrency: 4 processes write one zoo and one leaderboard at once
(files.locked around the zoo's id check and the leaderboard's read-merge-write)."""
import multiprocessing

import pytest
import torch

from sam_bench import files, leaderboard, zoo
from sam_bench.train import TrainConfig, train

WRITERS, EACH = 4, 5
SHARED_ID = "SamBench2025Standard_shared"


def results_with_pgd(entry, eps: str, acc: float) -> dict:
    """A results record as `sam-bench evaluate` writes it: AutoAttack plus one PGD budget."""
    evaluations = [
        {"attack": "pgd", "norm": "Linf", "eps": eps, "eps_value": 0.0,
         "settings": {"steps": 10, "step_size": 0.001, "restarts": 1}, "clean_acc": 0.5, "robust_acc": acc,
         "n_examples": 100},
        {"attack": "autoattack", "norm": "Linf", "eps": "8/255", "eps_value": 8 / 255, "settings": {"version": "standard"},
         "clean_acc": 0.5, "robust_acc": 0.1, "attack_reported_acc": 0.1, "n_examples": 100, "seconds": 1.0}]
    return {"schema": "sam-bench/eval-results/v1", "created": "2025-01-01T00:00:00+00:00",
            "model": {"ref": entry["id"], "kind": "zoo", "zoo_id": entry["id"], "weights_sha256": entry["weights_sha256"],
                      "arch": entry["arch"], "method": entry["method"]},
            "dataset": {"name": "cifar10-sample", "family": "cifar10", "split": "test", "n_examples": 100,
                        "n_test_total": 500, "sha256": "0" * 64},
            "precision": "fp32", "clean_acc": 0.5, "evaluations": evaluations, "robustbench": None,
            "environment": {"device_name": "cpu"}}


def writer(index, run_dir, zoo_dir, boards, start):
    start.wait()  # all four add to the zoo together, then all four update one leaderboard entry together
    shared = zoo.find_entry(SHARED_ID, zoo_dir)
    for j in range(EACH):
        zoo.add(run_dir, f"SamBench2025Standard_w{index}x{j}", zoo_dir=zoo_dir, precision="fp32")
    start.wait()
    for j in range(EACH):
        budget = index * EACH + j + 1
        leaderboard.update_from_results(results_with_pgd(shared, f"{budget}/255", budget / 100), boards, zoo_dir)


def test_four_writers_lose_no_zoo_entry_and_no_leaderboard_update(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    run_dir, zoo_dir, boards = tmp_path / "run", tmp_path / "model_zoo", tmp_path / "leaderboards"
    train(TrainConfig(arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64,
                      dataset="cifar10-sample"), run_dir, progress=False)
    zoo.add(run_dir, SHARED_ID, zoo_dir=zoo_dir, precision="fp32")

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS + 1)
    procs = [context.Process(target=writer, args=(i, run_dir, zoo_dir, boards, start)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    start.wait()
    start.wait()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    ids = sorted(e["id"] for e in zoo.list_entries(zoo_dir=zoo_dir))
    assert ids == sorted([SHARED_ID] + [f"SamBench2025Standard_w{i}x{j}" for i in range(WRITERS) for j in range(EACH)])
    for model_id in ids:  # every entry whole: weights verify against the recorded sha256
        zoo.load_model(model_id, zoo_dir=zoo_dir)
    board = files.read_json(boards / "cifar10" / "Linf" / f"{SHARED_ID}.json")
    budgets = sorted(int(p["eps"].split("/")[0]) for p in board["sam_bench"]["pgd"])
    assert budgets == list(range(1, WRITERS * EACH + 1))  # no read-merge-write lost to another writer
    assert len(board["sam_bench"]["sources"]) == WRITERS * EACH
    assert not list(tmp_path.rglob("*.tmp"))


def test_locked_serialises_and_times_out_with_one_line(tmp_path):
    from filelock import FileLock

    from sam_bench.errors import SamBenchError

    target = tmp_path / "thing"
    holder = FileLock(f"{target}.lock")
    holder.acquire()
    try:
        with pytest.raises(SamBenchError, match="still locked by another process"):
            with files.locked(target, timeout=0.2):
                pass
    finally:
        holder.release()
    with files.locked(target, timeout=0.2):
        assert (tmp_path / "thing.lock").exists()
