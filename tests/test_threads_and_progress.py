"""`evaluate` and `verify` take --threads (torch's intra-op threads: on a busy 2-core machine torch's default made
attacks 30-90x slower than one thread), and a check that measures a file again says before each evaluation how far
it is and about how long is left."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.evaluation import attack_table, autoattack_estimate
from sam_bench.evaluation.check_progress import CheckProgress, weight
from sam_bench.evaluation.recheck import label
from sam_bench.evaluation.results_record import Results

TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]

duration = functools.partial(autoattack_estimate.duration, minutes="min", hours="h")  # a progress line's units


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("threads")
    r = invoke("train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64", "--out", w / "run", *TINY)
    assert r.exit_code == 0, r.output
    return w


def evaluate(w: Path, out: str, *extra):
    r = invoke(
        *["evaluate", w / "run", "--attack", "pgd", "--eps", "1/255,2/255", "--n-examples", "24", "--quiet"],
        *["--out", w / out, *extra],
    )
    assert r.exit_code == 0, r.output
    return json.loads((w / out).read_text())


def test_evaluate_runs_with_the_threads_asked_for_and_records_them(measured):
    torch.set_num_threads(2)  # torch's default on this machine's two cores
    assert evaluate(measured, "default.json")["environment"]["cpu_threads"] == 2
    torch.set_num_threads(2)
    assert evaluate(measured, "one.json", "--threads", "1")["environment"]["cpu_threads"] == 1
    r = invoke("evaluate", measured / "run", "--attack", "clean", "--threads", "0", "--quiet")
    assert r.exit_code == 2 and "--threads" in r.output


def test_verify_checks_with_the_threads_asked_for(measured, monkeypatch):
    from sam_bench.evaluation import spot_check

    evaluate(measured, "pgd.json")
    seen = []
    honest = spot_check.spot_check

    def recording(path, **options):
        seen.append(options.get("threads"))
        return honest(path, **options)

    monkeypatch.setattr(spot_check, "spot_check", recording)
    assert invoke("verify", measured / "pgd.json", "--quiet").exit_code == 0
    assert invoke("verify", measured / "pgd.json", "--quiet", "--threads", "1").exit_code == 0
    assert seen == [None, 1]  # None: the count the file records
    r = invoke("verify", measured / "pgd.json", "--full", "--threads", "1", "--quiet")
    assert r.exit_code == 2 and "leave --threads out" in r.output


def test_a_check_says_how_far_it_is_and_how_long_is_left(measured):
    evaluate(measured, "pgd.json")
    results = Results.read(measured / "pgd.json")
    attacks = [ev for ev in results.evaluations if ev.attack != "clean"]
    weights = [1.0, *(weight(ev, 10) for ev in attacks)]
    spec = attacks[0]
    assert weights[1] == attack_table.cost(
        attack_table.AttackSpec(spec.attack, spec.norm, float(spec.eps_value), dict(spec.settings)), 10
    )
    now = [100.0]
    lines: list[str] = []
    progress = CheckProgress(results, lines.append, clock=lambda: now[0])
    progress.on_evaluation("clean")
    now[0] += 30  # the clean pass took 30 s
    progress.on_evaluation(label(attacks[0]))
    now[0] += 90
    progress.on_evaluation(label(attacks[1]))
    assert lines[0] == "  [1/3] clean"
    left = (weights[1] + weights[2]) * 30 / 1.0  # the rest at the clean pass's rate per forward pass
    assert lines[1] == f"  [2/3] {label(attacks[0])}: 1 measured in 30 s (2.0 per min), about {duration(left)} left"
    left = weights[2] * 120 / (1.0 + weights[1])
    assert lines[2] == f"  [3/3] {label(attacks[1])}: 2 measured in 2.0 min (1.0 per min), about {duration(left)} left"
    r = invoke("verify", measured / "pgd.json")
    assert r.exit_code == 0, r.output
    said = r.output.splitlines()
    assert said[1] == "  [1/3] clean" and said[2].startswith(f"  [2/3] {label(attacks[0])}: 1 measured in ")
    assert "left" in said[3]
