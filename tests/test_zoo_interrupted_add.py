"""A `zoo add` cut short repairs itself: killed (SIGKILL, nothing runs after it) between
writing the weights and writing the entry, it leaves weights without an entry; `zoo verify` reports
them as orphan weights instead of an empty zoo, and `zoo add` with the same id replaces them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli

MODEL_ID = "SamBench2026Standard_cut"
TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]

# `zoo add` in a process of its own that kills itself the moment it writes the entry: the weights are
# written (renamed into place), the entry's rename never happens.
KILLED_ADD = textwrap.dedent(
    """
    import os, signal, sys
    from sam_bench import files
    from sam_bench.zoo import store

    honest = files.write_json

    def killed_before_the_entry(path, obj):
        if str(path).endswith(sys.argv[2] + ".json"):
            os.kill(os.getpid(), signal.SIGKILL)
        honest(path, obj)

    files.write_json = killed_before_the_entry
    store.add(sys.argv[1], sys.argv[2], zoo_dir=sys.argv[3])
    """
)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cut") / "run"
    r = invoke("train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64", "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def cut_short(run, tmp_path, monkeypatch) -> Path:
    """A zoo where an add of MODEL_ID was killed between its two writes."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    zoo = tmp_path / "zoo"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SAM_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_ADD, str(run), MODEL_ID, str(zoo)], env=env, capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder = zoo / "cifar10" / "Linf"
    assert (folder / f"{MODEL_ID}.safetensors").is_file() and not (folder / f"{MODEL_ID}.json").exists()
    return zoo


def test_verify_reports_the_orphan_weights_instead_of_an_empty_zoo(cut_short):
    r = invoke("zoo", "verify", "--zoo-dir", cut_short)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"FAIL {MODEL_ID}: orphan weights: {cut_short}/cifar10/Linf/{MODEL_ID}.safetensors has no entry" in r.output
    assert "the zoo is empty" not in r.output
    assert "1 of 1 entries failed verification" in r.output

    r = invoke("zoo", "verify", MODEL_ID, "--zoo-dir", cut_short)
    assert r.exit_code == 2 and f"no entry for model id '{MODEL_ID}': orphan weights" in r.output, r.output


def test_adding_the_same_id_again_replaces_the_orphan_weights(run, cut_short):
    r = invoke("zoo", "add", run, "--id", MODEL_ID, "--zoo-dir", cut_short)  # the killed add's lock is gone too
    assert r.exit_code == 0, r.output
    r = invoke("zoo", "verify", "--zoo-dir", cut_short)
    assert r.exit_code == 0 and "1 entries verified" in r.output, r.output
    assert sorted(p.name for p in (cut_short / "cifar10" / "Linf").iterdir()) == [
        f"{MODEL_ID}.json",
        f"{MODEL_ID}.safetensors",
    ]


def test_an_orphan_in_another_leaderboards_folder_is_replaced_too(run, cut_short):
    r = invoke("zoo", "add", run, "--id", MODEL_ID, "--threat-model", "L2", "--zoo-dir", cut_short)
    assert r.exit_code == 0, r.output
    assert not (cut_short / "cifar10" / "Linf" / f"{MODEL_ID}.safetensors").exists()
    r = invoke("zoo", "verify", "--zoo-dir", cut_short)
    assert r.exit_code == 0 and "1 entries verified" in r.output, r.output


# `zoo add` killed while its weights' temporary is written in full, before the rename that makes it the weights
KILLED_IN_THE_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from sam_bench.zoo import store

    honest = os.replace

    def killed_before_the_rename(source, target):
        if str(target).endswith(".safetensors"):
            os.kill(os.getpid(), signal.SIGKILL)
        honest(source, target)

    os.replace = killed_before_the_rename
    store.add(sys.argv[1], sys.argv[2], zoo_dir=sys.argv[3])
    """
)


def test_a_temporary_a_killed_add_left_is_named_by_verify_and_removed_by_the_next_add(run, tmp_path, monkeypatch):
    """The full-size `.tmp` of a killed add went unnamed (verify said the zoo was fine, or empty) and stayed."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    zoo = tmp_path / "zoo"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SAM_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THE_WRITE, str(run), MODEL_ID, str(zoo)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder = zoo / "cifar10" / "Linf"
    (left,) = folder.glob(f".{MODEL_ID}.safetensors.*.tmp")
    assert left.stat().st_size == (run / "model.safetensors").stat().st_size  # the whole weights, never renamed

    r = invoke("zoo", "verify", "--zoo-dir", zoo)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"FAIL {left.name}: leftover temporary file: {left} (0.7 MB) is what a write cut short left" in r.output
    assert "1 of 1 entries failed verification" in r.output

    r = invoke("zoo", "add", run, "--id", f"{MODEL_ID}-other", "--zoo-dir", zoo)  # any add clears them
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in folder.iterdir()) == [f"{MODEL_ID}-other.json", f"{MODEL_ID}-other.safetensors"]
    r = invoke("zoo", "verify", "--zoo-dir", zoo)
    assert r.exit_code == 0 and "1 entries verified" in r.output, r.output


# `zoo import` (its own weights file, WEIGHTS ID ZOO OPTIONS...) killed like the add above, before its rename
KILLED_IMPORT = textwrap.dedent(
    """
    import os, signal, sys
    from sam_bench.cli import cli

    honest = os.replace

    def killed_before_the_rename(source, target):
        if str(target).endswith(".safetensors"):
            os.kill(os.getpid(), signal.SIGKILL)
        honest(source, target)

    os.replace = killed_before_the_rename
    weights, model_id, zoo, *options = sys.argv[1:]
    cli(["zoo", "import", weights, "--id", model_id, "--zoo-dir", zoo, *options], standalone_mode=False)
    """
)
IMPORT_OPTIONS = [
    *["--arch", "preactresnet18", "--width", "0.125", "--mean", "0.4914,0.4822,0.4465"],
    *["--std", "0.2471,0.2435,0.2616", "--method", "standard", "--description", "one epoch"],
    *["--source", "https://example.org", "--data", "cifar10"],
]


def test_a_temporary_a_killed_import_left_is_removed_by_the_next_import(run, tmp_path, monkeypatch):
    """`zoo import` killed in its write left a temporary that the next import kept, so `zoo verify` failed on."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    zoo = tmp_path / "zoo"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SAM_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(run / "model.safetensors"), MODEL_ID, str(zoo), *IMPORT_OPTIONS],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder = zoo / "cifar10" / "Linf"
    (left,) = folder.glob(f".{MODEL_ID}.safetensors.*.tmp")
    r = invoke(
        "zoo", "import", run / "model.safetensors", "--id", f"{MODEL_ID}-other", *IMPORT_OPTIONS, "--zoo-dir", zoo
    )
    assert r.exit_code == 0, r.output
    assert not left.exists()
    r = invoke("zoo", "verify", "--zoo-dir", zoo)
    assert r.exit_code == 0 and "1 entries verified" in r.output, r.output
