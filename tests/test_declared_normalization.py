"""What a run or a zoo entry declares agrees with what was trained:
the normalization it declares is checked against the weights file's header where one holds it, else the
data set family's statistics that `sam-bench train` always uses; values
no image statistics can have are refused by the schema; identity normalization is legal where the model
was trained with it; weights of another dtype than the architecture's are refused, never cast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.data import STATS
from sam_bench.rundir import trained_normalization

MODEL_ID = "SamBench2026Standard_norm"
ENTRY = f"zoo/cifar10/Linf/{MODEL_ID}.json"
TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code: int = 1) -> str:
    """The single 'Error:' line of a command that failed cleanly (no traceback)."""
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{result.output}"
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    world = tmp_path_factory.mktemp("trained")
    args = ["--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64", "--out", world / "run", *TINY]
    r = invoke("train", *args)
    assert r.exit_code == 0, r.output
    return world


@pytest.fixture
def world(trained, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    shutil.copytree(trained, tmp_path / "w")
    return tmp_path / "w"


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def set_arch(path: Path, **values) -> None:
    edit_json(path, lambda d: d["arch"].update(values))


def rewrite_weights(run: Path, header: dict[str, str], change=None) -> None:
    """The run's weights written again with another header (and tensors changed by `change`), its
    metadata's sha256 following: as if the run had been trained that way."""
    state = files.load_safetensors(run / "model.safetensors")
    if change is not None:
        change(state)
    files.save_safetensors(run / "model.safetensors", state, header)
    edit_json(run / "metadata.json", lambda d: d.update(weights_sha256=files.sha256_file(run / "model.safetensors")))


def test_training_leaves_the_weights_file_as_before_and_the_family_says_what_it_used(world):
    """The header of a trained run's weights is only its arch (a retrain must give the same file, sha256 and
    all); what it trained with comes from its family's statistics."""
    assert files.safetensors_header(world / "run" / "model.safetensors") == {"arch": "preactresnet18"}
    mean, std = STATS["cifar10"]
    trained, source = trained_normalization.trained_with(None, "cifar10")
    assert trained == {"mean": list(mean), "std": list(std)} and "statistics" in source


def test_an_edited_std_in_a_zoo_entry_is_refused_with_the_reason(world):
    assert invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo").exit_code == 0
    set_arch(world / ENTRY, std=[0.5, 0.5, 0.5])  # inside the range images can have: only the record tells

    r = invoke("zoo", "verify", "--zoo-dir", world / "zoo")
    assert r.exit_code == 1 and "1 of 1 entries failed verification" in r.output, r.output
    assert "arch.std is [0.5, 0.5, 0.5], but the model was trained with std [0.2471, 0.2435, 0.2616]" in r.output

    r = invoke("evaluate", MODEL_ID, "--zoo-dir", world / "zoo", "--attack", "clean", "--quiet", "--out", world / "e")
    assert "but the model was trained with std" in one_line_error(r)
    assert not (world / "e").exists()


def test_an_edited_normalization_in_a_run_is_refused_before_it_reaches_the_zoo(world):
    set_arch(world / "run" / "metadata.json", mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])  # identity, not trained so
    r = invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo")
    assert "arch.mean is [0.0, 0.0, 0.0], but the model was trained with mean [0.4914" in one_line_error(r)
    assert not (world / "zoo" / "cifar10").exists()


@pytest.mark.parametrize("where", ["run", "entry"])
def test_a_std_no_image_statistics_can_have_is_refused(world, where):
    if where == "run":
        set_arch(world / "run" / "metadata.json", std=[1e9, 1e9, 1e9])
        r = invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo")
        assert "arch.std[0]: 1000000000.0 is above the maximum 1" in one_line_error(r)
    else:
        assert invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo").exit_code == 0
        set_arch(world / ENTRY, std=[1e9, 1e9, 1e9])
        r = invoke("zoo", "verify", "--zoo-dir", world / "zoo")
        assert r.exit_code == 1 and "arch.std[0]: 1000000000.0 is above the maximum 1" in r.output, r.output


def test_identity_normalization_is_legal_where_the_model_was_trained_with_it(world):
    identity = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    rewrite_weights(world / "run", {"arch": "preactresnet18", "normalization": json.dumps(identity)})
    set_arch(world / "run" / "metadata.json", **identity)
    r = invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo", "--precision", "fp16")
    assert r.exit_code == 0, r.output
    r = invoke("zoo", "verify", "--zoo-dir", world / "zoo")
    assert r.exit_code == 0 and "1 entries verified" in r.output, r.output
    weights = world / "zoo" / "cifar10" / "Linf" / f"{MODEL_ID}.safetensors"
    assert json.loads(files.safetensors_header(weights)["normalization"]) == identity  # the fp16 copy keeps it

    set_arch(world / ENTRY, mean=[0.4914, 0.4822, 0.4465], std=[0.2471, 0.2435, 0.2616])  # not what it trained with
    r = invoke("zoo", "verify", "--zoo-dir", world / "zoo")
    assert r.exit_code == 1 and "trained with mean [0.0, 0.0, 0.0] (the weights file's header)" in r.output, r.output


def test_weights_from_before_the_header_are_checked_against_the_family_statistics(world):
    rewrite_weights(world / "run", {"arch": "preactresnet18"})  # weights from before the header held one
    r = invoke("evaluate", world / "run", "--attack", "clean", "--n-examples", "8", "--quiet", "--out", world / "e")
    assert r.exit_code == 0, r.output
    set_arch(world / "run" / "metadata.json", std=[0.25, 0.25, 0.25])
    r = invoke("evaluate", world / "run", "--attack", "clean", "--n-examples", "8", "--quiet", "--out", world / "f")
    assert "(sam-bench train's cifar10 statistics, as for every run)" in one_line_error(r)


def test_int32_weights_are_refused_not_cast(world):
    def to_int32(state):
        name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 4)
        state[name] = state[name].round().to(torch.int32)

    rewrite_weights(world / "run", files.safetensors_header(world / "run" / "model.safetensors"), to_int32)
    r = invoke("evaluate", world / "run", "--attack", "clean", "--n-examples", "8", "--quiet", "--out", world / "e")
    assert "are int32 where the architecture has float32" in one_line_error(r)
    r = invoke("zoo", "add", world / "run", "--id", MODEL_ID, "--zoo-dir", world / "zoo")
    assert "are int32 where the architecture has float32" in one_line_error(r)
