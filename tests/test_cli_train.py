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


# ------------------------------------------------------------------ one run per --out


def test_a_second_train_into_an_out_another_process_trains_is_refused(tmp_path):
    """Two `train` into one --out at once both trained and both said "done", and one run was lost: the folder is
    claimed as files.locked claims a path (`<out>.claim`, sam_bench.jobs.lease), and a second train refuses at
    once, naming the holder. The claim is held here by the test process, as a first train would hold it."""
    from sam_bench.jobs import lease

    out = tmp_path / "run"
    where = tmp_path / "run.claim"
    held = lease.try_claim(where)
    assert held is not None
    try:
        r = run(["train", "--dataset", "synthetic", "--epochs", "1", "--n-train", "64", "--out", str(out), *TINY])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
        assert f"--out {out} is being trained by {held.holder.describe()}" in r.output
        assert not out.exists()  # nothing written, nothing lost
    finally:
        held.release()


def test_a_claim_is_on_the_folder_itself_not_the_path_as_typed(tmp_path):
    """Two trains into one folder, one through a symlink, both exited 0 and one run was lost: the claim is made
    beside the folder's real path, so the second is refused whatever path names the folder."""
    from sam_bench.jobs import lease

    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real, target_is_directory=True)
    held = lease.try_claim(tmp_path / "real.claim")  # as `train --out real` holds it
    assert held is not None
    try:
        r = run(["train", "--dataset", "synthetic", "--epochs", "1", "--n-train", "64", "--out", str(link), *TINY])
        assert r.exit_code == 1 and f"--out {link} is being trained by {held.holder.describe()}" in r.output, r.output
        assert not list(real.iterdir())  # nothing written
    finally:
        held.release()


def test_a_seed_group_claims_its_members_while_it_trains(tmp_path, monkeypatch):
    """A `--seeds` group claimed only its own folder: a `train` into one of its seeds' folders ran beside it.
    Here the group's training, while it holds its claims, tries that second train; it is refused."""
    from sam_bench.training import grouped_runs

    group = tmp_path / "group"
    member = ["train", "--dataset", "synthetic", "--epochs", "1", "--n-train", "64", "--out", str(group / "seed-1")]
    beside = []

    def a_second_train_meanwhile(cfgs, outs, **kwargs):
        beside.append(run([*member, *TINY]))
        raise KeyboardInterrupt  # the group itself need not train for this

    monkeypatch.setattr(grouped_runs, "train_grouped", a_second_train_meanwhile)
    args = ["--dataset", "synthetic", "--epochs", "1", "--n-train", "64", "--step-mode", "grouped", "--seeds", "0,1"]
    run(["train", *args, "--out", str(group), *TINY])
    [r] = beside
    assert r.exit_code == 1 and f"--out {group / 'seed-1'} is being trained by" in r.output, r.output
    assert not (group / "seed-1" / "metadata.json").exists()
    assert not list(tmp_path.rglob("*.claim"))  # every claim released after


def test_a_claim_whose_holder_has_ended_is_taken_over_and_released_after(tmp_path):
    """A train killed (SIGKILL: nothing runs after it) leaves its claim: the next train takes it over, as
    lease.try_claim does once the holder is known gone, trains, and leaves no claim behind."""
    out = tmp_path / "run"
    where = tmp_path / "run.claim"
    code = f"from sam_bench.jobs import lease; import os; assert lease.try_claim({str(where)!r}); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert where.is_file()
    r = run(["train", "--dataset", "synthetic", "--epochs", "1", "--n-train", "64", "--out", str(out), *TINY])
    assert r.exit_code == 0 and "done:" in r.output, r.output
    assert not where.exists()

    from sam_bench.jobs import lease

    held = lease.try_claim(where)  # a run continued behind its holder's back is refused the same way
    try:
        r = run(["train", "--out", str(out), "--resume", "--quiet"])
        assert r.exit_code == 1 and f"--out {out} is being trained by {held.holder.describe()}" in r.output, r.output
    finally:
        held.release()
