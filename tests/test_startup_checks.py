"""A missing pyautoattack fails at start-up in one line, before any training or attack runs."""

import sys

import pytest
from click.testing import CliRunner

from sam_bench.bench.throughput import QUICK, run_bench
from sam_bench.cli import cli
from sam_bench.errors import SamBenchError
from sam_bench.evaluation.specs import make_attacks
from sam_bench.experiments.reproduce import reproduce


@pytest.fixture
def no_pyautoattack(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyautoattack", None)  # `import pyautoattack` now raises ImportError


def test_evaluate_fails_before_attacking(no_pyautoattack):
    with pytest.raises(SamBenchError, match="AutoAttack needs the pyautoattack package"):
        make_attacks("autoattack", "Linf", ["8/255"])
    make_attacks("pgd", "Linf", ["8/255"])  # nothing else needs it
    result = CliRunner().invoke(cli, ["evaluate", "SomeModel", "--attack", "autoattack"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "pyautoattack" in result.output and "Traceback" not in result.output


def test_reproduce_fails_before_training(no_pyautoattack, tmp_path):
    with pytest.raises(SamBenchError, match="pyautoattack"):
        reproduce("paper-cifar10", "smoke", out=tmp_path / "repro", progress=False)
    assert not (tmp_path / "repro").exists()


def test_bench_fails_before_timing_training(no_pyautoattack):
    logged = []
    with pytest.raises(SamBenchError, match="pyautoattack"):
        run_bench(**{**QUICK, "evaluation": True}, log=logged.append)
    assert logged == []
