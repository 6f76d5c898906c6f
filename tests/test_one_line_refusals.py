"""What would end in a traceback, or be taken without a word, ends in one line
naming the problem and a non-zero exit, before any work: a checkpoint on a disk that fills, resuming a
run whose metadata is damaged, a pack manifest without parts, `cost --threads 0`, a theory spec too big
for memory, a batch larger than the data, an --only or --attacks that names nothing or no attack,
analyze's absurd --rho and --cutoffs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sam_bench.cli import cli

TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]
TRAIN = ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "64"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code: int) -> str:
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{result.output}"  # else a traceback
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run on the bundled sample and a clean evaluation of it."""
    w = tmp_path_factory.mktemp("refusals")
    for args in (
        [*TRAIN, "--out", w / "run", *TINY],
        ["evaluate", w / "run", "--attack", "clean", "--n-examples", "16", "--quiet", "--out", w / "clean.json"],
    ):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
    return w


@pytest.fixture
def world(trained, tmp_path) -> Path:
    shutil.copytree(trained, tmp_path / "w")
    return tmp_path / "w"


# ------------------------------------------------------------------ tracebacks


def test_a_disk_that_fills_during_a_checkpoint_is_one_line_and_resumable(tmp_path, monkeypatch):
    import torch

    def full(obj, f, *args, **kwargs):  # what torch's zip writer raised on a full tmpfs: no "write" in it
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", full)
    r = invoke(*TRAIN, "--checkpoint-every", "0", "--out", tmp_path / "run", *TINY)
    line = one_line_error(r, 1)
    assert "the disk is full" in line and "--resume" in line
    monkeypatch.undo()
    r = invoke("train", "--out", tmp_path / "run", "--resume", "--quiet", "--device", "cpu")
    assert r.exit_code == 0 and "done:" in r.output, r.output


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda meta: meta.update(final=None), "final: null is not a mapping"),
        (lambda meta: meta.update(final=[0.1, 0.2]), "final: [0.1, 0.2] is not a mapping"),
        (lambda meta: [meta], "is not a mapping"),
    ],
    ids=["final-null", "final-list", "metadata-list"],
)
def test_resuming_a_run_with_damaged_metadata_is_one_line(world, edit, message):
    path = world / "run" / "metadata.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(edit(meta) if edit(meta) is not None else meta))
    line = one_line_error(invoke("train", "--out", world / "run", "--resume", "--quiet"), 1)
    assert message in line and "--resume cannot continue it" in line


def test_cost_with_no_threads_is_one_line(tmp_path):
    line = one_line_error(invoke("cost", tmp_path, "--threads", "0"), 2)
    assert "--threads must be at least 1" in line


def test_a_theory_spec_too_big_for_memory_is_refused_before_allocating(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text("data:\n  non_robust: {count: 100000000, mean: 0.1, std: 1.0}\n")
    line = one_line_error(invoke("theory", spec, "--out", tmp_path / "t", "--quiet"), 2)
    assert "100,000,002 features x (4,000 training + 20,000 test examples) need about" in line
    assert "use fewer features" in line and not (tmp_path / "t").exists()


def test_running_out_of_memory_anyway_is_one_line(tmp_path, monkeypatch):
    import importlib

    simulate = importlib.import_module("sam_bench.analysis.theory.simulate")  # the package exports its function

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(simulate, "simulate", out_of_memory)
    line = one_line_error(invoke("theory", "--out", tmp_path / "t", "--quiet"), 2)
    assert "ran out of memory" in line


# ------------------------------------------------------------------ silent acceptances


def test_a_batch_larger_than_the_training_images_is_refused(tmp_path):
    r = invoke(*TRAIN, "--out", tmp_path / "run", *TINY, "--batch-size", "100000000")
    line = one_line_error(r, 2)
    assert "--batch-size 100,000,000 exceeds the 64 images the run trains on; choose at most 64" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("only", ["", ",", " , "])
def test_an_only_that_names_nothing_does_not_run_the_whole_grid(tmp_path, only):
    recipe = Path(__file__).parent / "recipes" / "tiny-grid.yaml"
    r = invoke("reproduce", recipe, "--scale", "test", "--only", only, "--out", tmp_path / "g", "--quiet")
    assert "--only" in one_line_error(r, 2) and "names nothing" in r.output
    assert not (tmp_path / "g").exists()
    assert "names nothing" in one_line_error(invoke("cost", tmp_path, "--only", only), 2)


def test_reproduce_with_an_empty_only_list_runs_nothing(tmp_path):
    from sam_bench.errors import BadInput
    from sam_bench.experiments.reproduce import reproduce

    recipe = Path(__file__).parent / "recipes" / "tiny-grid.yaml"
    with pytest.raises(BadInput, match="--only names no model"):
        reproduce(str(recipe), "test", out=tmp_path / "g", only=[], progress=False)
    assert not (tmp_path / "g").exists()


def test_recheck_of_an_attack_that_does_not_exist_fails_on_a_rechecked_file(world):
    again = ["recheck", world / "clean.json", "--quiet", "--out", world / "recheck.json"]
    assert invoke(*again).exit_code == 0
    assert "already rechecked" in invoke(*again).output  # the file is rechecked: the case of the issue
    line = one_line_error(invoke(*again, "--attacks", "foo"), 2)
    assert "--attacks: 'foo' is no attack; choose from clean, pgd, autoattack" in line
    assert "names nothing" in one_line_error(invoke(*again, "--attacks", ""), 2)


SMALL = ["--fourier-images", "8", "--filter-images", "8", "--gradient-images", "8", "--quiet"]


def test_analyze_refuses_a_rho_beyond_the_weights(world):
    args = ["analyze", world / "run", "--out", world / "a", "--measures", "sharpness", *SMALL]
    line = one_line_error(invoke(*args, "--train-images", "8", "--sharpness-batch", "8", "--rho", "1e9"), 2)
    assert "--rho 1e+09 exceeds the L2 norm of the model's weights" in line


def test_analyze_refuses_a_sharpness_that_is_not_a_number(world, monkeypatch):
    from sam_bench.analysis import sharpness

    monkeypatch.setattr(sharpness, "sam_sharpness", lambda *a, **k: {"loss": 1.0, "sam_one_step": np.nan})
    args = ["analyze", world / "run", "--out", world / "a", "--measures", "sharpness", *SMALL]
    line = one_line_error(invoke(*args, "--train-images", "8", "--sharpness-batch", "8"), 1)
    assert "sam_one_step is nan on batch 0" in line and "use a smaller --rho" in line


def test_analyze_refuses_cutoffs_beyond_the_highest_frequency(world):
    args = ["analyze", world / "run", "--out", world / "a", "--measures", "frequency", *SMALL]
    line = one_line_error(invoke(*args, "--cutoffs", "2,100"), 2)
    assert "--cutoffs 100: a 32x32 image has no frequency above radius 22.6" in line


# ------------------------------------------------------------------ names and sizes too large for the machine


def test_a_zoo_id_too_long_for_a_file_name_is_refused_before_anything_is_written(world):
    """An id of 222+ characters ended in an OSError traceback from the clean-up after the one-line error (its
    files' names passed the file system's 255 bytes); ids are at most 128 characters, refused before any write."""
    model_id = "SamBench2026Standard_" + "a" * 210
    line = one_line_error(invoke("zoo", "add", world / "run", "--id", model_id, "--zoo-dir", world / "zoo"), 2)
    assert f"invalid model id {model_id!r}: {len(model_id)} characters, at most 128" in line
    assert not (world / "zoo" / "cifar10").exists()


@pytest.mark.parametrize("command", [["evaluate"], ["analyze"], ["zoo", "verify"]])
def test_a_model_reference_too_long_for_a_file_name_is_one_line(world, command):
    """Looking a 300-character name up as a path or a zoo id ended in an OSError traceback (ENAMETOOLONG)."""
    ref = "SamBench2026Standard_" + "a" * 300
    (world / "zoo" / "cifar10" / "Linf").mkdir(parents=True)
    line = one_line_error(invoke(*command, ref, "--zoo-dir", world / "zoo"), 2)
    assert " characters): name too long for the file system (a file or folder name is at most 255 bytes)" in line


def test_a_width_whose_weights_exceed_the_machines_memory_is_refused_before_allocating(tmp_path):
    """`train --width 1000` ended in the allocator's RuntimeError traceback (147 GB for one layer): the weights are
    counted before the model is built (on torch's meta device, which allocates nothing)."""
    r = invoke(*TRAIN, "--out", tmp_path / "run", *TINY, "--width", "1000")
    line = one_line_error(r, 2)
    counted = re.search(r"preactresnet18 at width 1000 has ([0-9,]+) parameters \(([0-9,.]+) GB in fp32\)", line)
    assert counted and int(counted[1].replace(",", "")) > 1000**2 * 10**7, line  # width squared x 11 million
    assert "more than this machine's memory" in line and "choose a smaller --width" in line
    assert not (tmp_path / "run").exists()


def test_an_allocation_that_fails_anyway_while_the_model_is_built_is_one_line(tmp_path, monkeypatch):
    from sam_bench.models import registry

    def refused(**kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried "
            "to allocate 147456000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setitem(registry._REGISTRY, "preactresnet18", refused)
    line = one_line_error(invoke(*TRAIN, "--out", tmp_path / "run", *TINY), 2)
    assert "building preactresnet18 at width 0.125 ran out of memory (it asked for 147.5 GB)" in line, line


def test_verify_never_writes_its_verdicts_over_a_file_it_checks(world):
    """`verify X --out X` replaced the results file with its verdicts and exited 0: the evidence was lost."""
    results = world / "clean.json"
    before = results.read_bytes()
    for out in (results, world / "." / "clean.json"):
        line = one_line_error(invoke("verify", results, "--out", out, "--quiet"), 2)
        assert f"names {results}, which this command reads; write its output elsewhere" in line
    (world / "linked.json").hardlink_to(results)
    one_line_error(invoke("verify", world / "linked.json", "--out", results, "--quiet"), 2)
    assert results.read_bytes() == before
