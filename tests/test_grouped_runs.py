"""Several seeds trained together (`train --step-mode grouped --seeds`): each an ordinary run in its
own folder, its own seed's model; stopped and resumed as a group to the weights of an uninterrupted group; what
cannot train together refused in one line. (The step's arithmetic against N static steps: test_grouped_step.py.)"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from tiny_training import tiny

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.rundir.model import load_run
from sam_bench.training.grouped_runs import train_grouped
from sam_bench.training.loop import train


def group(method: str = "sam", seeds=(0, 1), **overrides):
    return [tiny(method=method, seed=s, step_mode="grouped", **overrides) for s in seeds]


def test_a_group_stopped_and_resumed_trains_the_weights_of_an_uninterrupted_group(tmp_path):
    whole = [tmp_path / "whole" / f"seed-{s}" for s in (0, 1)]
    cut = [tmp_path / "cut" / f"seed-{s}" for s in (0, 1)]
    train_grouped(group(), whole, progress=False)
    stopped = train_grouped(group(), cut, stop_after_epochs=1, progress=False)
    assert [m["status"] for m in stopped] == ["running", "running"]
    assert [m["epochs_done"] for m in stopped] == [1, 1]
    resumed = train_grouped(group(), cut, resume=True, progress=False)
    for a, b in zip(whole, cut):
        assert files.sha256_file(a / "model.safetensors") == files.sha256_file(b / "model.safetensors")
    # ordinary runs: each loads as any run does, names its group, and is its own seed's model
    models = [load_run(b)[0] for b in cut]
    assert [m["grouped_with"] for m in resumed] == [[str(c) for c in cut]] * 2
    assert [m["config"]["seed"] for m in resumed] == [0, 1]
    first, second = (dict(m.state_dict()) for m in models)
    assert any(not first[k].equal(second[k]) for k in first)


def test_what_cannot_train_as_a_group_is_refused_in_one_line(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    cases = {
        "the runs of a group differ in --lr": [
            tiny(seed=0, step_mode="grouped"),
            tiny(seed=1, step_mode="grouped", lr=0.1),
        ],
        "a group trains each seed once": group(seeds=(3, 3)),
        "trades has a step of its own; it cannot train grouped": group("trades"),
        "a group's runs train with --step-mode grouped, not static": [tiny(seed=0, step_mode="static")],
    }
    for message, cfgs in cases.items():
        with pytest.raises(BadInput, match=message):
            train_grouped(cfgs, outs[: len(cfgs)], progress=False)
    with pytest.raises(BadInput, match="--step-mode grouped trains several seeds together"):
        train(tiny(step_mode="grouped"), tmp_path / "alone", progress=False)
    with pytest.raises(BadInput, match="leave --compile off"):
        tiny(step_mode="grouped", compile=True).validate()


def test_a_group_is_refused_under_torchrun(tmp_path, monkeypatch):
    """Every process would train the whole group into the same folders."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(BadInput, match="trains in one process; run it without torchrun"):
        train_grouped(group(), [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not (tmp_path / "a").exists()


def test_a_group_resumes_only_runs_that_stopped_together(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    train_grouped(group(epochs=3), outs, stop_after_epochs=1, progress=False)
    train_grouped(group(epochs=3)[:1], outs[:1], resume=True, stop_after_epochs=1, progress=False)  # a alone: 2
    with pytest.raises(BadInput, match=r"stopped after different epochs \(1, 2\)"):
        train_grouped(group(epochs=3), outs, resume=True, progress=False)


def test_train_seeds_puts_each_run_in_its_folder_and_says_so(tmp_path):
    common = ["train", "--dataset", "synthetic", "--arch", "preactresnet18", "--width", "0.125", "--epochs", "1"]
    common += ["--batch-size", "64", "--n-train", "128", "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(
        cli, [*common, "--step-mode", "grouped", "--seeds", "0-1", "--out", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    assert [line.split(" (")[0] for line in result.output.splitlines()] == [
        f"done: {tmp_path / 'g' / 'seed-0'}",
        f"done: {tmp_path / 'g' / 'seed-1'}",
    ]
    refusals = {
        ("--seeds", "0,1", "--compile"): "--compile trains a run alone in its process",
        ("--seeds", "2,x", "--step-mode", "grouped"): "--seeds takes seeds such as 0,1,2 or 0-3, not '2,x'",
        ("--seeds", "1,1", "--step-mode", "grouped"): "--seeds takes each seed (>= 0) once",
        ("--seeds", "1,2", "--seed", "3", "--step-mode", "grouped"): "--seeds trains a group in place of --seed",
    }
    for args, message in refusals.items():
        result = CliRunner().invoke(cli, [*common, *args, "--out", str(tmp_path / "x")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output
