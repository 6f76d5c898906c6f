"""`sam-bench bench --probe`: the schedule, the budget, the record and its refusals.
Nothing here measures speed: the clock is injected (`sam_bench.runtime.clock`) and the steps are fakes
that advance it by set amounts, so what is checked is the structure, never a number of the machine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from probe_workers import failing_step_factory, idle_step_factory

from sam_bench import schema
from sam_bench.bench import probe
from sam_bench.bench.probe import Part, Ratio, run_probe
from sam_bench.bench.probe_concurrent import Crew
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.runtime import clock

SYNTHETIC = Path(__file__).parent / "probes" / "synthetic-h100.probe.json"
ENV = {"device": "cuda", "device_name": "fake", "torch_version": "0", "code_commit": None}
SETTINGS = {
    "budget_s": 10.0,
    "batch_size": 128,
    "methods": ["standard"],
    "modes": ["eager", "static"],
    "concurrency": [1],
}


@pytest.fixture
def fake_clock(monkeypatch):
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(clock, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


def fake_part(fake, name, seconds, calls, setup_s=0.0, info=None, fail=False):
    """A part whose every repetition advances the fake clock by `seconds` (its set-up by `setup_s`)."""

    def setup():
        fake.now += setup_s
        if fail:
            raise RuntimeError("no compiler here\nsecond line")

        def run():
            calls.append(name)
            fake.now += seconds
            return {"step_s": seconds}

        return run

    return Part(name, setup, info or {"kind": "train", "method": "standard", "mode": name})


def test_rounds_rotate_fill_the_budget_and_never_pass_it(tmp_path, fake_clock):
    calls: list[str] = []
    parts = [fake_part(fake_clock, "eager", 1.0, calls), fake_part(fake_clock, "static", 0.5, calls)]
    ratio = Ratio("static speed-up", ("eager", "step_s"), ("static", "step_s"))
    lines: list[str] = []
    start = fake_clock.now
    record = run_probe(parts, [ratio], 10.0, tmp_path / "p.json", ENV, SETTINGS, {"x": "why"}, log=lines.append)
    # warm-up: 2 runs each (3 s); then rounds of 1.5 s while one still fits: 4 rounds, ending at 9 s
    assert fake_clock.now - start <= 10.0
    assert record["budget"]["rounds"] == 4 and record["status"] == "complete"
    assert calls[4:] == ["eager", "static", "static", "eager", "eager", "static", "static", "eager"]  # rotating
    eager = record["parts"]["eager"]["values"]["step_s"]
    assert eager == {"runs": [1.0] * 4, "median": 1.0, "rounds": 4}
    assert record["ratios"] == [
        {
            "name": "static speed-up",
            "numerator": "eager.step_s",
            "denominator": "static.step_s",
            "runs": [2.0] * 4,
            "median": 2.0,
            "rounds": 4,
        }
    ]
    assert record["not_applicable"] == {"x": "why"} and record["failed"] == {} and record["not_measured"] == []
    written = json.loads((tmp_path / "p.json").read_text())
    assert written == record and schema.find("probe", written) is None
    assert any("round 1 of about" in line and "ETA" in line for line in lines)  # the progress line


def test_a_part_whose_setup_outlasts_the_budget_is_not_measured(tmp_path, fake_clock):
    calls: list[str] = []
    parts = [
        fake_part(fake_clock, "eager", 1.0, calls),
        fake_part(fake_clock, "compiled", 1.0, calls, setup_s=20.0),
        fake_part(fake_clock, "static", 1.0, calls),
    ]
    start = fake_clock.now
    record = run_probe(parts, [], 10.0, tmp_path / "p.json", ENV, SETTINGS)
    assert record["status"] == "stopped"
    assert record["not_measured"] == ["compiled", "static"] and list(record["parts"]) == ["eager"]
    assert record["budget"]["rounds"] == 0 and fake_clock.now - start == pytest.approx(24.0)  # no round started


def test_a_part_that_fails_is_recorded_in_one_line_and_the_rest_go_on(tmp_path, fake_clock):
    calls: list[str] = []
    closed = []
    parts = [fake_part(fake_clock, "compiled", 1.0, calls, fail=True), fake_part(fake_clock, "eager", 1.0, calls)]
    parts[1].close = lambda: closed.append(True)
    record = run_probe(
        parts, [Ratio("r", ("eager", "step_s"), ("compiled", "step_s"))], 8.0, tmp_path / "p.json", ENV, SETTINGS
    )
    assert record["failed"] == {"compiled": "RuntimeError: no compiler here"}
    assert record["status"] == "stopped" and record["ratios"] == [] and closed == [True]
    assert record["parts"]["eager"]["values"]["step_s"]["rounds"] == record["budget"]["rounds"] == 6


@pytest.mark.parametrize("budget", [0, -1.0])
def test_a_budget_of_nothing_is_refused(tmp_path, fake_clock, budget):
    with pytest.raises(BadInput, match="--budget-s must be more than 0"):
        run_probe([fake_part(fake_clock, "eager", 1.0, [])], [], budget, tmp_path / "p.json", ENV, SETTINGS)


def test_a_crews_workers_run_their_steps_together_and_report_their_spans():
    """Real worker processes with steps that do nothing: each builds what it is given, runs it on command with
    the others and reports the units it counted and their span; a worker keeps its steps across commands."""
    crew = Crew()
    try:
        crew.build([(w, "idle", idle_step_factory, 3, None) for w in ("a", "b")])
        spans = crew.run([("a", "idle"), ("b", "idle")], 0.05)
        assert set(spans) == {"a", "b"} and all(s.units >= 1 and s.end >= s.start for s in spans.values())
        assert crew.run([("b", "idle")], 0.05)["b"].units >= 1  # built once, run again
        assert set(crew.workers) == {"a", "b"}
    finally:
        crew.close()
    assert not crew.workers
    crew.close()  # a second close does nothing


def test_a_worker_that_cannot_build_its_step_is_reported_in_one_line_and_the_others_go_on():
    crew = Crew()
    try:
        with pytest.raises(RuntimeError, match=r"^probe worker b failed: RuntimeError: no such device here$"):
            crew.build([("a", "idle", idle_step_factory, 1, None), ("b", "bad", failing_step_factory, 1, None)])
        assert ("a", "idle") in crew.built and ("b", "bad") not in crew.built
        with pytest.raises(RuntimeError, match="probe worker b failed: KeyError"):
            crew.run([("a", "idle"), ("b", "bad")], 0.05)
        assert crew.run([("a", "idle")], 0.05)["a"].units >= 1  # nothing left over from the failed run
    finally:
        crew.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget-s", "0"], "--budget-s must be more than 0 seconds"),
        (["--concurrency", "0"], "--concurrency takes process counts of 1 or more"),
        (["--concurrency", "two"], "--concurrency takes comma-separated process counts"),
        (["--modes", "eager,warp"], "unknown step mode 'warp'"),
        (["--methods", "standard,nope"], "unknown method 'nope'"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--grouped", "1"], "--grouped takes model counts of 2 or more"),
        (["--grouped", "four"], "--grouped takes comma-separated model counts"),
        (["--concurrent-modes", "compiled"], "--concurrent-modes: 'compiled' is no step mode a run trains in"),
        (["--concurrency", "1,2", "--beside", "4"], "--beside 4: the evaluation's cost to K trainings is read"),
        (["--beside", "one"], "--beside takes comma-separated process counts"),
        (["--concurrent-s", "0"], "--concurrent-s must be more than 0 seconds"),
    ],
)
def test_bad_probe_options_end_in_one_line(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["bench", "--probe", "--device", "cpu", "--out", str(tmp_path / "p.json"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
    assert not (tmp_path / "p.json").exists()


def test_the_cli_probe_writes_the_record_with_real_tiny_steps(tmp_path):
    """A real run, tiny: every field there, CPU-only parts recorded as not applicable (no number checked)."""
    out = tmp_path / "p.json"
    args = [
        "bench",
        "--probe",
        "--device",
        "cpu",
        "--width",
        "0.0625",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--methods",
        "standard,trades",
        "--modes",
        "eager,static,graph",
        "--concurrency",
        "1",
        "--concurrent-modes",
        "eager,graph",
        "--beside",
        "",
        "--grouped",
        "2",
        "--grouped-methods",
        "standard,trades",
        "--budget-s",
        "60",
        "--threads",
        "1",
        "--quiet",
        "--commit",
        "abc123",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = probe.read(out)
    assert record["environment"]["code_commit"] == "abc123" and record["environment"]["cpu_isa"]
    assert {"torch_version", "device_name", "torch_threads", "cuda"} <= set(record["environment"])
    assert record["settings"]["budget_s"] == 60 and record["settings"]["batch_size"] == 4
    assert record["settings"]["concurrent_modes"] == ["eager", "graph"] and record["settings"]["beside"] == []
    assert set(record["parts"]) <= {
        "train/standard/eager",
        "train/trades/eager",
        "train/standard/static",
        "concurrent/standard/eager/K1",
        "conv/separate/N2",
        "conv/grouped/N2",
        "seeds/standard/separate/N2",
        "seeds/standard/grouped/N2",
    }
    assert "train/standard/eager" in record["parts"]
    assert set(record["not_applicable"]) == {
        "concurrent/standard/graph",
        "train/standard/graph",
        "train/trades/graph",
        "train/trades/static",
        "seeds/trades/N2",
        "attack/tf32 vs attack/ieee",
    }
    assert record["budget"]["spent_s"] > 0 and f"wrote {out}" in result.output


def test_the_synthetic_probe_fixture_is_a_valid_record():
    record = probe.read(SYNTHETIC)
    assert "synthetic" in record["environment"]["device_name"]


def test_grouped_and_separate_convolutions_do_the_same_work():
    """The grouped part is the separate parts' convolutions with N times the channels and groups=N: the same
    weights per model, the same multiply-adds, so their times compare like with like."""
    import torch

    from sam_bench.bench import probe_grouped

    s = {"width": 0.0625, "batch_size": 2, "seed": 0, "threads": 1}
    one = probe_grouped._layers(s["width"], 1, torch.device("cpu"))
    grouped = probe_grouped._layers(s["width"], 3, torch.device("cpu"))
    assert len(one) == len(grouped) == 16  # PreActResNet-18's sixteen 3x3 convolutions in its blocks
    for (a, pa), (b, pb) in zip(one, grouped, strict=True):
        assert pa == pb and b.groups == 3 and b.in_channels == 3 * a.in_channels
        assert b.weight.numel() == 3 * a.weight.numel()
    probe_grouped.conv_pass(3, True, s, "cpu")()  # runs forward and backward
    probe_grouped.conv_pass(3, False, s, "cpu")()


def test_the_seeds_parts_train_n_seeds_separately_or_as_one_grouped_step():
    """Both seeds parts build and take a step of every seed as the probe calls them: N static steps, or the
    grouped training's step (`train --step-mode grouped`; its arithmetic: test_grouped_step.py)."""
    from sam_bench.bench import probe_parts

    s = {**probe_parts.DEFAULTS, "arch": "preactresnet18", "width": 0.0625, "batch_size": 4, "precision": "fp32"}
    s.update(rho=0.1, seed=0, threads=None)
    for method in ("standard", "sam"):
        probe_parts.seeds_step(method, 2, False, s, "cpu")()
        probe_parts.seeds_step(method, 2, True, s, "cpu")()
