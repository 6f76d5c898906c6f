import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli

TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def run(args):
    return CliRunner().invoke(cli, args)


def test_train_sam_on_the_bundled_sample_then_resume(tmp_path):
    out = tmp_path / "sam"
    r = run(
        [
            "train",
            "--method",
            "sam",
            "--rho",
            "0.1",
            "--dataset",
            "cifar10-sample",
            "--epochs",
            "2",
            "--n-train",
            "256",
            "--stop-after-epochs",
            "1",
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert r.exit_code == 0, r.output
    assert "stopped after epoch 1/2" in r.output
    r = run(["train", "--out", str(out), "--resume", "--quiet"])  # the recipe comes from the run directory
    assert r.exit_code == 0, r.output
    assert "done:" in r.output
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["config"]["rho"] == 0.1
    assert meta["dataset"]["name"] == "cifar10-sample" and meta["dataset"]["n_test"] == 500
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    r = run(["train", "--out", str(out), "--resume", "--quiet"])  # nothing left: said so, nothing trained
    assert r.exit_code == 0 and r.output.startswith(f"already finished: {out}") and "nothing to train" in r.output
    assert len((out / "log.jsonl").read_text().splitlines()) == 2


def test_ctrl_c_says_how_to_continue(tmp_path, monkeypatch):
    import sam_bench.training.loop as train_module

    honest = train_module.train
    calls = []

    def interrupted(cfg, out, **kwargs):
        calls.append(out)
        if len(calls) == 1:
            raise KeyboardInterrupt  # in the first epoch: nothing kept yet
        honest(cfg, out, stop_after_epochs=1, **{k: v for k, v in kwargs.items() if k != "stop_after_epochs"})
        raise KeyboardInterrupt  # during the second epoch

    monkeypatch.setattr(train_module, "train", interrupted)
    args = ["train", "--dataset", "synthetic", "--epochs", "2", "--out", str(tmp_path / "r"), *TINY]
    first = run(args)
    assert first.exit_code == 1 and "interrupted before the first checkpoint" in first.output
    (tmp_path / "r").rename(tmp_path / "gone") if (tmp_path / "r").exists() else None
    second = run(args)
    assert second.exit_code == 1 and "Traceback" not in second.output
    assert f"continue with sam-bench train --out {tmp_path / 'r'} --resume" in second.output


def test_train_at_on_synthetic(tmp_path):
    r = run(
        [
            "train",
            "--method",
            "at",
            "--attack-norm",
            "Linf",
            "--attack-eps",
            "8/255",
            "--attack-steps",
            "2",
            "--attack-step-size",
            "4/255",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "at"),
            *TINY,
        ]
    )
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "at" / "metadata.json").read_text())["config"]
    assert (config["attack_eps"], config["attack_step_size"], config["attack_steps"]) == ("8/255", "4/255", 2)


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--method", "adam"], 2, "Invalid value for '--method'"),
        (["--arch", "vgg11"], 2, "unknown architecture"),
        (["--dataset", "imagenet"], 2, "Invalid value for '--dataset'"),
        (["--method", "at", "--attack-eps", "abc"], 2, "invalid eps"),
        (["--method", "sam", "--rho", "-0.1"], 2, "rho: -0.1 is below the minimum 0"),
        (["--method", "at", "--attack-eps", "-8/255"], 2, "invalid eps"),
    ],
)
def test_bad_input_is_one_line_and_exit_code(tmp_path, args, code, message):
    r = run(["train", "--dataset", "synthetic", "--epochs", "1", "--out", str(tmp_path / "x"), *TINY, *args])
    assert r.exit_code == code, r.output
    assert message in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x").exists()  # nothing written


def test_out_dir_with_another_run_and_corrupt_resume(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--dataset", "synthetic", "--epochs", "2", "--n-train", "64", "--out", str(out), *TINY]
    assert run(base + ["--stop-after-epochs", "1"]).exit_code == 0
    before = (out / "checkpoint.pt").read_bytes()
    r = run(base)
    assert r.exit_code == 2 and "already holds files" in r.output
    assert (out / "checkpoint.pt").read_bytes() == before  # nothing overwritten
    r = run(["train", "--out", str(out), "--resume", "--lr", "0.5"])
    assert r.exit_code == 2 and "differs from the run's" in r.output
    (out / "checkpoint.pt").write_bytes(before[: len(before) // 2])  # truncated
    r = run(["train", "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 1 and "corrupted or unreadable checkpoint" in r.output
    r = run(["train", "--out", str(tmp_path / "nothing"), "--resume"])
    assert r.exit_code == 2 and "no run to resume" in r.output


def test_console_script_prints_no_traceback(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sam_bench",
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "cifar10 not found" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
