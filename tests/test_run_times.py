"""The time checks of a run's log (sam_bench/training/run_check.py) against every run the project committed: each
passes them, and the rule the CPU-time check rests on holds for all of them (CPU seconds at most the threads' share
of the wall time)."""

from __future__ import annotations

import json
from pathlib import Path

from sam_bench.training import run_check

ROOT = Path(__file__).resolve().parents[1]


def committed_runs() -> list[Path]:
    return sorted(
        p.parent for p in ROOT.glob("reproductions/**/runs/*/log.jsonl") if (p.parent / "metadata.json").is_file()
    )


def test_every_committed_run_passes_its_time_checks_and_spends_no_more_cpu_than_its_threads_can():
    runs = committed_runs()
    assert len(runs) > 100  # the reproductions' runs, CPU and GPU
    devices, shares = set(), []
    for run in runs:
        metadata = json.loads((run / "metadata.json").read_text())
        logged = run_check.read_log(run)
        assert logged is not None
        run_check.check(metadata, logged, str(run))
        devices.add(metadata.get("device"))
        threads = metadata.get("cpu_threads")  # runs from before it was recorded have none: no bound to hold
        shares += [r["cpu_seconds"] / (r["seconds"] * threads) for r in logged if threads and "cpu_seconds" in r]
    assert {"cpu", "cuda"} <= devices
    assert len(shares) > 500 and max(shares) <= 1.0 < run_check.CPU_SLACK
