"""The probe's runs side by side in one process (sam_bench/bench/probe_lanes.py, `bench --probe --in-process`), run
for real on this CPU with a tiny network: K runs' steps each in a lane, counted into an aggregate rate, and the
ratios against one run and against K processes. What is checked is what ran and how it is counted, never a speed
(on a GPU the same parts add the memory the runs held: tests/test_gpu.py)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from sam_bench.bench import probe, probe_arrangement, probe_lanes, probe_parts
from sam_bench.cli import cli
from sam_bench.runtime import clock, lanes


def settings(**more) -> dict:
    s = {**probe_parts.DEFAULTS, "arch": "preactresnet18", "width": 0.0625, "batch_size": 4, "precision": "fp32"}
    s.update(rho=0.1, seed=0, threads=1, steps=1, attack_images=4, methods=["standard"], modes=[])
    s.update(concurrent_methods=["standard"], concurrent_modes=["eager", "static"], concurrency=[1, 2], beside=[])
    s.update({"concurrent_s": 0.05, "in_process": True, **more})
    return s


def test_k_runs_side_by_side_are_k_lanes_and_their_steps_are_counted_over_the_time_all_took(monkeypatch):
    widths = []
    real = lanes.run
    monkeypatch.setattr(lanes, "run", lambda jobs, width, *a, **k: widths.append(width) or real(jobs, width, *a, **k))
    run = probe_lanes.side_by_side("standard", "static", 2, settings(), torch.device("cpu"), 2.5)
    assert widths == [2]  # the two runs' steps built, each in its lane
    now = iter(range(100))
    monkeypatch.setattr(clock, "now", lambda: float(next(now)))  # a second a reading
    # start 0, stop 2.5: a step of each lane read 1 and 2, then one more each read 3 and 4 (past the stop), end 5
    assert run() == {"images_per_s_aggregate": 4 * 4 / 5}
    assert widths == [2, 2]


def test_the_arrangement_times_k_side_by_side_beside_k_processes_and_names_the_ratios():
    parts, ratios, _ = probe_arrangement.parts(settings(), torch.device("cpu"))
    names = [p.name for p in parts]
    side = [f"lanes/standard/{mode}/K{k}" for mode in ("eager", "static") for k in (1, 2)]
    assert [n for n in names if n.startswith("lanes/")] == side
    info = {p.name: p.info for p in parts}["lanes/standard/static/K2"]
    assert info == {
        "kind": "lanes",
        "method": "standard",
        "mode": "static",
        "processes": 1,
        "attack_steps": None,
        "models": 2,
    }
    assert {(r.name, r.numerator[0], r.denominator[0]) for r in ratios if r.numerator[0].startswith("lanes/")} == {
        *(
            (probe_lanes.first_ratio("standard", mode, 2, 1), f"lanes/standard/{mode}/K2", f"lanes/standard/{mode}/K1")
            for mode in ("eager", "static")
        ),
        *(
            (
                probe_lanes.processes_ratio("standard", mode, k),
                f"lanes/standard/{mode}/K{k}",
                f"concurrent/standard/{mode}/K{k}",
            )
            for mode in ("eager", "static")
            for k in (1, 2)
        ),
    }
    assert not [
        p
        for p in probe_arrangement.parts(settings(in_process=False), torch.device("cpu"))[0]
        if p.name.startswith("lanes/")
    ]
    for part in parts:
        if part.close is not None:
            part.close()


def test_the_cli_probe_in_process_writes_its_parts_on_this_cpu(tmp_path):
    out = tmp_path / "p.json"
    args = ["bench", "--probe", "--in-process", "--device", "cpu", "--width", "0.0625", "--batch-size", "4"]
    args += ["--steps", "1", "--methods", "standard", "--modes", "eager", "--concurrency", "1,2"]
    args += ["--concurrent-modes", "static", "--concurrent-s", "0.05", "--beside", "", "--grouped", ""]
    args += ["--budget-s", "120", "--threads", "1", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = probe.read(out)
    assert record["settings"]["in_process"] is True and record["failed"] == {}
    for k in (1, 2):
        values = record["parts"][f"lanes/standard/static/K{k}"]["values"]
        assert set(values) == {"images_per_s_aggregate"} and values["images_per_s_aggregate"]["median"] > 0
    assert probe_lanes.first_ratio("standard", "static", 2, 1) in {r["name"] for r in record["ratios"]}


def test_in_process_works_only_with_the_probe(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--in-process", "--device", "cpu", "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "--in-process works only with --probe" in result.output


@pytest.mark.parametrize("k", [1, 2])
def test_a_side_by_side_step_that_cannot_be_built_fails_the_part_in_one_line(k):
    with pytest.raises(Exception, match="no capturable one"):
        probe_lanes.side_by_side("trades", "static", k, settings(), torch.device("cpu"), 0.05)
