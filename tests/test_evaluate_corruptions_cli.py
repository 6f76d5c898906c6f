"""`sam-bench evaluate --threat-model corruptions`: a record file per model, and a budget kept to its threat model."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from sam_bench.training.loop import TrainConfig, train

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cli") / "c10s_prn18_tiny"
    config = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64, dataset="cifar10-sample", device="cpu"
    )
    train(config, out, progress=False)
    return out


def _evaluate(*args):
    return CliRunner().invoke(cli, ["evaluate", *args], catch_exceptions=False)


def test_corruptions_write_a_record_that_says_its_set_is_generated(run_dir, tmp_path):
    out = tmp_path / "c.json"
    args = ["--threat-model", "corruptions", "--corruption-set", "cifar10-sample-c-generated"]
    result = _evaluate(
        str(run_dir),
        *args,
        "--corruptions",
        "fog,snow",
        "--severities",
        "2",
        "--n-examples",
        "6",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    record = files.read_json(out)
    assert set(record["accuracy"]) == {"fog", "snow"} and record["corruption_set"]["generated"] is True
    assert f"weather {100 * record['families']['weather']:.2f}%" in result.output
    assert "(generated)" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threat-model", "corruptions", "--eps", "8/255"], "corruptions take no eps"),
        (["--threat-model", "corruptions", "--attack", "pgd"], "--attack applies to Linf and L2"),
        (["--threat-model", "corruptions", "--severities", "7"], "severity must be one of"),
        (["--threat-model", "corruptions", "--corruptions", "rain"], "unknown corruption 'rain'"),
        (["--norm", "Linf", "--severities", "3"], "Linf takes an eps, not corruptions or severities"),
        (["--threat-model", "L2", "--corruptions", "fog"], "L2 takes an eps, not corruptions or severities"),
        (["--corruption-set", "cifar10-c"], "--corruption-set applies to --threat-model corruptions"),
        (["--threat-model", "L2", "--norm", "Linf"], "disagree"),
    ],
)
def test_a_budget_of_the_other_threat_model_is_one_line_and_writes_nothing(run_dir, tmp_path, args, message):
    out = tmp_path / "c.json"
    result = CliRunner().invoke(cli, ["evaluate", str(run_dir), *args, "--out", str(out)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not out.exists()
