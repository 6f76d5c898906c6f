"""sam-bench evaluate <ModelId> ... --leaderboard: the zoo entry's leaderboard row comes from the results."""

import json

import torch
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo


def test_evaluate_writes_the_leaderboard_entry(tmp_path):
    torch.set_num_threads(1)
    cfg = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, dataset="cifar10-sample", n_train=128, batch_size=64, device="cpu"
    )
    train(cfg, tmp_path / "run", progress=False)
    entry = zoo.add(tmp_path / "run", model_id="SamBench2026Standard_tiny", zoo_dir=tmp_path / "zoo")
    out, boards = tmp_path / "aa.json", tmp_path / "boards"
    r = CliRunner().invoke(
        cli,
        [
            "evaluate",
            entry["id"],
            "--attack",
            "autoattack",
            "--norm",
            "Linf",
            "--eps",
            "8/255",
            "--n-examples",
            "8",  # one clean-correct image, broken by APGD-T: 2 s. At 16, images that a barely trained model masks
            # survive to FAB-T and Square (40-80 s)
            "--zoo-dir",
            str(tmp_path / "zoo"),
            "--out",
            str(out),
            "--leaderboard",
            "--leaderboard-dir",
            str(boards),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    results = json.loads(out.read_text())
    info = json.loads((boards / "cifar10" / "Linf" / f"{entry['id']}.json").read_text())
    assert float(info["autoattack_acc"]) == round(100 * results["evaluations"][0]["robust_acc"], 2)
    assert float(info["clean_acc"]) == round(100 * results["evaluations"][0]["clean_acc"], 2)
    assert isinstance(info["clean_acc"], str)  # RobustBench writes percentages as strings
    assert info["eps"] == "8/255"
    # a run directory is not a zoo model: nothing to rank
    r = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(tmp_path / "run"),
            "--attack",
            "clean",
            "--leaderboard",
            "--out",
            str(tmp_path / "c.json"),
            "--quiet",
        ],
    )
    assert r.exit_code == 2 and "ranks zoo models only" in r.output
