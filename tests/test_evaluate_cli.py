"""`sam-bench evaluate` end to end on runs from `sam-bench train`: results files that validate
against the schema, the table, plots, resume, and one clear line for every bad input."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import sam_bench
from sam_bench.cli import cli
from sam_bench.evaluation import evaluate as ev
from sam_bench.training.loop import TrainConfig, train

SCHEMA = json.loads((Path(sam_bench.__file__).parent / "schemas" / "eval-results.schema.json").read_text())


def validate(path: Path) -> dict:
    results = json.loads(Path(path).read_text())
    jsonschema = pytest.importorskip("jsonschema")  # a test dependency only
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(results)
    return results


def invoke(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two briefly trained tiny runs (standard and SAM) made by the training loop."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    for name, method in (("c10s_standard", "standard"), ("c10s_sam", "sam")):
        train(
            TrainConfig(
                method=method,
                arch="preactresnet18",
                width=0.125,
                epochs=1,
                n_train=256,
                batch_size=64,
                dataset="cifar10-sample",
                device="cpu",
            ),
            root / name,
            progress=False,
        )
    return root / "c10s_standard", root / "c10s_sam"


def test_pgd_sweep_of_several_models_with_plot(runs, tmp_path):
    out, plot = tmp_path / "results", tmp_path / "curve.png"
    result = invoke(
        *runs,
        "--attack",
        "pgd",
        "--norm",
        "Linf",
        "--eps",
        "0,1/255,4/255",
        "--steps",
        "3",
        "--n-examples",
        "24",
        "--out",
        out,
        "--plot",
        plot,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    for run in runs:
        results = validate(out / f"{run.name}_pgd_Linf.json")
        assert results["model"]["ref"] == str(run) and results["model"]["method"] in ("standard", "sam")
        assert [e["eps"] for e in results["evaluations"]] == ["0", "1/255", "4/255"]
        assert results["evaluations"][0]["robust_acc"] == results["clean_acc"]
        assert not list(out.glob("*.partial.json"))
        assert re.search(rf"^{run.name} +pgd-3 +Linf +4/255 ", result.stdout, re.M)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clean_accuracy_with_default_output(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(runs[0] / "model.safetensors", "--attack", "clean", "--n-examples", "16", "--quiet")
    assert result.exit_code == 0, result.output
    results = validate(tmp_path / "results" / "c10s_standard_clean_none.json")
    assert results["model"]["kind"] == "checkpoint" and results["dataset"]["n_examples"] == 16
    # the summary gives each accuracy its 95% Wilson interval over the 16 images
    from sam_bench.stats.inference import wilson

    k = round(results["clean_acc"] * 16)
    low, high = wilson(k, 16)
    assert f"{100 * k / 16:.2f}% ({100 * low:.1f}-{100 * high:.1f})" in result.output
    assert "clean (95% CI)" in result.output


@pytest.mark.parametrize(
    "norm,budgets,doubtful",
    [("L2", "8/255,16/255,0.5", ["L2 eps 8/255 is below 16/255"]), ("Linf", "8/255,0.5", ["Linf eps 0.5 is above"])],
)
def test_a_doubtful_budget_is_said_and_kept_in_the_results(runs, tmp_path, norm, budgets, doubtful):
    out = tmp_path / "r.json"
    args = ["--attack", "pgd", "--norm", norm, "--eps", budgets, "--steps", "1", "--n-examples", "8"]
    result = invoke(runs[0], *args, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ", 1)[1] for line in said if "budget" in line] == validate(out)["warnings"]
    assert len(said) == len(doubtful) and all(s.startswith(f"warning: {d}") for s, d in zip(said, doubtful))
    assert "RobustBench's standard budgets are Linf 8/255 and L2 0.5" in said[0]


@pytest.fixture
def quick_autoattack(monkeypatch):
    """The standard version's structure with CPU-test budgets (every attack still runs)."""
    from pyautoattack import AutoAttack

    original = AutoAttack._set_version

    def smaller(self, version="standard"):
        original(self, version)
        self.apgd.n_iter = self.apgd_targeted.n_iter = self.fab.n_iter = 10
        self.apgd_targeted.n_target_classes = self.fab.n_target_classes = 2
        self.square.n_queries = 50

    monkeypatch.setattr(AutoAttack, "_set_version", smaller)


def test_autoattack_standard_writes_robustbench_fields(runs, tmp_path, quick_autoattack):
    out = tmp_path / "aa.json"
    result = invoke(runs[1], "--attack", "autoattack", "--eps", "8/255", "--n-examples", "12", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    results = validate(out)
    (aa,) = results["evaluations"]
    assert list(aa["breakdown"]) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert aa["breakdown"]["square"] == aa["attack_reported_acc"]
    assert results["robustbench"] == {
        "threat_model": "Linf",
        "eps": "8/255",
        "clean_acc": f"{100 * results['clean_acc']:.2f}",
        "autoattack_acc": f"{100 * aa['robust_acc']:.2f}",
        "n_examples": 12,
        "full_test_set": False,
    }
    assert "after: clean" in result.stdout


def test_interrupted_evaluation_continues(runs, tmp_path, monkeypatch):
    args = (
        runs[0],
        "--attack",
        "pgd",
        "--eps",
        "2/255",
        "--steps",
        "2",
        "--n-examples",
        "24",
        "--batch-size",
        "8",
        "--chunk-size",
        "8",
        "--quiet",
    )
    honest = ev.RUNNERS["pgd"]
    calls = []

    def interrupted_on_second_chunk(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return honest(*a, **kw)

    out = tmp_path / "r.json"
    monkeypatch.setitem(ev.RUNNERS, "pgd", interrupted_on_second_chunk)
    result = invoke(*args, "--out", out)
    assert result.exit_code == 1 and "run the same command again" in result.stderr
    assert (tmp_path / "r.partial.json").is_file() and not out.exists()

    monkeypatch.setitem(ev.RUNNERS, "pgd", honest)
    assert invoke(*args, "--out", out).exit_code == 0
    assert not (tmp_path / "r.partial.json").exists()
    assert invoke(*args, "--out", tmp_path / "fresh.json").exit_code == 0
    resumed, fresh = validate(out)["evaluations"][0], validate(tmp_path / "fresh.json")["evaluations"][0]
    assert resumed["chunks"]["resumed"] == 1 and fresh["chunks"]["resumed"] == 0
    assert resumed["robust_acc"] == fresh["robust_acc"]
    assert resumed["per_class_robust_acc"] == fresh["per_class_robust_acc"]


def test_max_minutes_stops_between_chunks_and_the_same_command_continues(runs, tmp_path, evaluation_clock):
    evaluation_clock.per_pgd_image = 7.5  # an 8-image chunk of PGD takes "a minute" on evaluate's clock: the
    out = tmp_path / "r.json"  # timed probe (one image, 7.5 s) and two chunks fit in 3 minutes, a third not
    args = (
        runs[0],
        "--attack",
        "pgd",
        "--eps",
        "2/255",
        "--steps",
        "2",
        "--n-examples",
        "24",
        "--batch-size",
        "8",
        "--chunk-size",
        "8",
        "--max-minutes",
        "3",
        "--quiet",
        "--out",
        out,
    )
    first = invoke(*args)
    assert first.exit_code == 0 and "stopped, time limit reached with 2 of 3 chunks done" in first.output
    assert (tmp_path / "r.partial.json").is_file() and not out.exists()
    evaluation_clock.new_command()  # a new command, a new 3 minutes from its start
    second = invoke(*args)
    assert second.exit_code == 0 and f"wrote {out}" in second.output
    assert validate(out)["evaluations"][0]["chunks"]["resumed"] == 2


@pytest.fixture(scope="module")
def tampered(runs, tmp_path_factory):
    copy = tmp_path_factory.mktemp("tampered") / "run"
    shutil.copytree(runs[0], copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    return weights


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--attack", "pgd", "--eps", "abc"], 2, "invalid eps 'abc'"),
        (["--attack", "pgd", "--eps", "-1/255"], 2, "must be a finite number >= 0"),
        (["--attack", "pgd", "--eps", ","], 2, "--eps is empty"),
        (["--attack", "pgd", "--eps", "300/255"], 2, "--eps 300/255 is beyond any two images for Linf"),
        (["--attack", "pgd", "--n-examples", "0"], 2, "--n-examples must be between 1 and 500"),
        (["--attack", "pgd", "--n-examples", "10001"], 2, "--n-examples must be between 1 and 500"),
        (["--attacks", "apgd-ce", "--version", "standard"], 2, "--attacks needs --version custom"),
        (["--version", "custom"], 2, "--version custom needs --attacks"),
        (["--attacks", "apgd-ce,nope"], 2, "unknown AutoAttack attack 'nope'"),
        (["--attack", "clean", "--plot", "x.png"], 2, "--plot"),
        (["--attack", "pgd", "--steps", "0"], 2, "--steps"),
        (["--attack", "clean", "--dataset", "cifar10"], 2, "cifar10 not found"),
        (["--attack", "clean", "--dataset", "imagenet"], 2, "unknown dataset"),
        (["--attack", "clean", "--max-minutes", "0"], 2, "--max-minutes must be a number of minutes > 0"),
        (["--attack", "clean", "--batch-size", "none"], 2, "neither a positive integer nor auto"),
    ],
)
def test_bad_input_is_one_line(runs, args, code, message, monkeypatch):
    monkeypatch.delenv("SAM_BENCH_DATA", raising=False)
    result = invoke(runs[0], *args, "--quiet")
    assert result.exit_code == code
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Error: ") and message in result.stderr


def test_bad_models_are_one_line(tmp_path, tampered):
    (
        tmp_path / "zoo"
    ).mkdir()  # an empty zoo (a --zoo-dir that is not there is refused first: tests/test_bad_inputs.py)
    for ref, code, message in [
        ("NoSuchModel2020X", 2, "NoSuchModel2020X"),
        (tmp_path / "missing.safetensors", 2, "no such"),
        (tmp_path / "runs" / "missing-run", 2, "no such run directory or checkpoint file"),
        (tampered, 1, "sha256 does not match"),
        (tampered.parent, 1, "sha256 does not match"),
    ]:
        result = invoke(ref, "--attack", "clean", "--zoo-dir", tmp_path / "zoo", "--quiet")
        assert result.exit_code == code, result.output
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_standard_autoattack_says_its_cost_before_it_starts(runs, tmp_path, quick_autoattack, monkeypatch):
    import itertools
    import re

    from sam_bench.runtime import clock

    ticks = itertools.count(clock.STARTED, 3.0)  # the injected clock: every reading 3 s after the one before
    monkeypatch.setattr(clock, "now", lambda: next(ticks))
    args = ("--attack", "autoattack", "--eps", "8/255", "--n-examples", "16", "--chunk-size", "16", "--batch-size", "8")
    result = invoke(runs[0], *args, "--out", tmp_path / "aa.json")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if "for 16 images here" in line]
    timed = r"autoattack Linf 8/255: about (\d+) s for 16 images here \(the whole suite timed on (\d) image"
    said = re.match(timed, line)
    assert said, line
    assert int(said.group(1)) == 3 * 16 // int(said.group(2))  # the probe read the clock twice: 3 s for its images
    assert "--version custom --attacks apgd-ce,apgd-t" in line
    quiet = invoke(runs[0], *args, "--out", tmp_path / "quiet.json", "--quiet")
    assert "images here" not in quiet.stderr
