"""Runs trained side by side in one process (training/side_by_side.py, `train --seeds` in a step mode other than
grouped): ST, SAM and AT runs, eager (AT's random starts from torch's global generator) and static (its own),
their steps taken in turn, each train the weights (sha256) it trains alone; stopped and resumed side by side,
they still do; a run that fails mid-way ends alone and the others are still as alone. What cannot train side
by side is refused in one line. On a CPU with one thread, the smallest runs that show it: PreActResNet-18 at
1/16 width, two epochs of two steps on the bundled sample."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.training.config import TrainConfig
from sam_bench.training.loop import train
from sam_bench.training.side_by_side import train_side_by_side

SMALL = dict(
    arch="preactresnet18", width=0.0625, dataset="cifar10-sample", epochs=2, batch_size=64, n_train=128, device="cpu"
)


def runs() -> list[TrainConfig]:
    """ST, SAM and AT eager (AT drawing its starts from torch's global generator), and AT static (its own)."""
    at = dict(method="at", attack_steps=2, attack_eps="8/255")
    return [
        TrainConfig(**SMALL, method="standard", seed=0),
        TrainConfig(**SMALL, method="sam", rho=0.1, seed=1),
        TrainConfig(**SMALL, **at, seed=2),
        TrainConfig(**SMALL, **at, seed=3, step_mode="static"),
    ]


def weights(folder) -> str:
    return files.sha256_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("alone")
    for i, cfg in enumerate(runs()):
        train(cfg, out / str(i), progress=False)
    return [weights(out / str(i)) for i in range(len(runs()))]


def test_runs_side_by_side_train_the_weights_each_trains_alone(alone, tmp_path):
    outs = [tmp_path / str(i) for i in range(len(alone))]
    outcomes = train_side_by_side(runs(), outs, progress=False)
    assert [o.error for o in outcomes] == [None] * len(alone)
    assert [o.value["status"] for o in outcomes] == ["complete"] * len(alone)
    assert [weights(o) for o in outs] == alone
    assert len(set(alone)) == len(alone)  # four different runs, not one


def test_runs_stopped_and_resumed_side_by_side_train_the_weights_of_runs_alone(alone, tmp_path):
    outs = [tmp_path / str(i) for i in range(len(alone))]
    stopped = train_side_by_side(runs(), outs, stop_after_epochs=1, progress=False)
    assert [o.value["epochs_done"] for o in stopped] == [1] * len(alone)
    resumed = train_side_by_side(runs(), outs, resume=True, progress=False)
    assert [o.value["status"] for o in resumed] == ["complete"] * len(alone)
    assert [weights(o) for o in outs] == alone


def test_a_run_that_fails_mid_way_ends_alone_and_the_others_train_as_alone(alone, tmp_path):
    cfgs = runs()
    cfgs[0] = TrainConfig(**SMALL, method="standard", seed=0, lr=1e9)  # its loss is NaN in the second epoch
    outs = [tmp_path / str(i) for i in range(len(cfgs))]
    outcomes = train_side_by_side(cfgs, outs, progress=False)
    assert isinstance(outcomes[0].error, SamBenchError) and "epoch 2" in str(outcomes[0].error)
    assert not (outs[0] / "model.safetensors").exists()
    assert [o.error for o in outcomes[1:]] == [None] * 3
    assert [weights(o) for o in outs[1:]] == alone[1:]


def test_what_cannot_train_side_by_side_is_refused_in_one_line(tmp_path, monkeypatch):
    outs = [tmp_path / "a", tmp_path / "b"]
    cases = {
        "--compile trains a run alone in its process": [TrainConfig(**SMALL, compile=True)],
        "--step-mode grouped trains its seeds as one network already": [TrainConfig(**SMALL, step_mode="grouped")],
    }
    for message, cfgs in cases.items():
        with pytest.raises(BadInput, match=message):
            train_side_by_side(cfgs, outs[:1], progress=False)
    with pytest.raises(BadInput, match="one folder of their own each"):
        train_side_by_side(runs()[:2], [outs[0], outs[0]], progress=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(BadInput, match="share one process; run them without torchrun"):
        train_side_by_side(runs()[:2], outs, progress=False)
    assert not any(o.exists() for o in outs)


def test_train_seeds_side_by_side_says_each_run_and_fails_only_when_a_run_failed(tmp_path):
    args = ["train", "--arch", "preactresnet18", "--width", "0.0625", "--dataset", "cifar10-sample", "--epochs", "1"]
    args += ["--batch-size", "64", "--n-train", "128", "--device", "cpu", "--quiet", "--seeds", "0-1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert [line.split(" (")[0] for line in result.output.splitlines()] == [
        f"done: {tmp_path / 'ok' / 'seed-0'}",
        f"done: {tmp_path / 'ok' / 'seed-1'}",
    ]
    result = CliRunner().invoke(cli, [*args, "--epochs", "2", "--lr", "1e9", "--out", str(tmp_path / "nan")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert [line.split(": training loss")[0] for line in lines[:2]] == [
        f"failed: {tmp_path / 'nan' / 'seed-0'}",
        f"failed: {tmp_path / 'nan' / 'seed-1'}",
    ]
    assert lines[2] == "Error: every run failed (said above)"


def test_a_run_passes_its_turn_after_every_step(tmp_path):
    from sam_bench.runtime import lanes

    cfg = TrainConfig(**SMALL, method="standard")  # two epochs of two steps
    trained, turns = [], []

    def training():
        trained.append(train(cfg, tmp_path / "run", progress=False))

    def watching():
        while not trained:
            turns.append(len(turns))
            lanes.turn()

    lanes.run([training, watching], 2)
    assert len(turns) == 4
