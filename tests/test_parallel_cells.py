"""K cells of a grid at once: `reproduce --parallel K` runs each cell in a fresh process (or with `--in-process`,
side by side in one process, each cell in a lane of its own) and each comes out as it does alone: the tiny
grid's two models trained and evaluated two at a time have the weights (sha256) and every evaluation number,
per-image outcomes included, of the grid run one at a time, on a CPU with one thread per process; stopped by a
time limit and run again, they still do. The claims are the local executor's: a cell another process holds
refuses the whole call before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.experiments.reproduce import reproduce
from sam_bench.recipes.recipe import load_recipe

RECIPE = str(Path(__file__).parent / "recipes" / "tiny-grid.yaml")


def what_it_made(out: Path) -> dict:
    """Per run: its weights' sha256 and its evaluations without their clocks."""
    made = {}
    for meta in sorted(out.glob("runs/*/metadata.json")):
        results = json.loads((out / "results" / f"{meta.parent.name}.json").read_text())
        evaluations = [{k: v for k, v in e.items() if not k.endswith("seconds")} for e in results["evaluations"]]
        for e in evaluations:  # each chunk's record holds its own clock
            e["chunks"] = {k: v for k, v in (e.get("chunks") or {}).items() if "second" not in k}
        made[meta.parent.name] = (json.loads(meta.read_text())["weights_sha256"], results["clean_acc"], evaluations)
    return made


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("alone")
    complete, _ = reproduce(RECIPE, "test", out=out, device="cpu", progress=False, threads=1)
    assert complete
    return what_it_made(out)


WAYS = pytest.mark.parametrize("in_process", [False, True], ids=["processes", "in-process"])


@WAYS
def test_two_cells_at_once_make_what_each_makes_alone(alone, tmp_path, in_process):
    complete, report = reproduce(
        RECIPE, "test", out=tmp_path, device="cpu", progress=False, threads=1, parallel=2, in_process=in_process
    )
    assert complete and report.is_file()
    assert len(alone) == 2 and what_it_made(tmp_path) == alone
    assert not list((tmp_path / "cells").glob("*.claim"))  # every claim released


@WAYS
def test_a_time_limit_stops_every_cell_and_the_next_call_finishes_them_as_alone(alone, tmp_path, in_process):
    # A limit already reached: each cell trains its first epoch (one always runs), checkpoints and stops
    at_once = dict(device="cpu", progress=False, threads=1, parallel=2, in_process=in_process)
    complete, _ = reproduce(RECIPE, "test", out=tmp_path, stop_at=time.time(), **at_once)
    assert not complete
    logs = [json.loads(m.read_text()) for m in tmp_path.glob("runs/*/metadata.json")]
    assert len(logs) == 2 and all(m["status"] == "running" and m["epochs_done"] == 1 for m in logs)
    complete, _ = reproduce(RECIPE, "test", out=tmp_path, **at_once)
    assert complete and what_it_made(tmp_path) == alone


@WAYS
def test_no_cell_starts_after_the_time_limit_stopped_one(tmp_path, in_process):
    """Three cells two at a time, the limit already reached: the first two train their first epoch and stop;
    the third, as one at a time, is not started (it is the next call's)."""
    recipe = tmp_path / "three.yaml"
    sam = "  - {name: SAM-0.1, method: sam, rho: 0.1}\n"
    recipe.write_text(Path(RECIPE).read_text().replace(sam, sam + "  - {name: SAM-0.2, method: sam, rho: 0.2}\n"))
    out = tmp_path / "out"
    at_once = dict(device="cpu", progress=False, threads=1, parallel=2, in_process=in_process)
    complete, _ = reproduce(str(recipe), "test", out=out, stop_at=time.time(), **at_once)
    assert not complete
    started = sorted(m.parent.name.rsplit("-", 1)[0] for m in out.glob("runs/*/metadata.json"))
    assert started == ["SAM-0.1", "ST"]


def test_parallel_cells_keep_the_claims_and_bad_values_are_one_line(tmp_path):
    plan = load_recipe(RECIPE, "test").models[1]
    claim = tmp_path / "cells" / f"{plan.run_name}.claim"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from sam_bench.jobs import lease; "
            "print(bool(lease.try_claim(sys.argv[1])), flush=True); sys.stdin.read()",
            str(claim),
        ],
        stdin=subprocess.PIPE,  # held open: the holder holds its claim until it is killed
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with pytest.raises(BadInput, match="SAM-0.1 is being worked on by another process"):
            reproduce(RECIPE, "test", out=tmp_path, device="cpu", progress=False, parallel=2)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "runs").exists()  # refused before any cell started
    with pytest.raises(BadInput, match="--parallel must be 1 or more, got 0"):
        reproduce(RECIPE, "test", out=tmp_path, device="cpu", progress=False, parallel=0)
    refused = CliRunner().invoke(
        cli, ["reproduce", RECIPE, "--scale", "test", "--executor", "slurm", "--parallel", "2"]
    )
    assert refused.exit_code != 0
    assert "--parallel is for the local executor (on SLURM each cell is a job of its own)" in refused.output
    refused = CliRunner().invoke(cli, ["reproduce", RECIPE, "--scale", "test", "--out", str(tmp_path), "--in-process"])
    assert refused.exit_code == 2
    assert "--in-process runs --parallel K cells side by side in one process: give --parallel 2" in refused.output
    refused = CliRunner().invoke(cli, ["reproduce", RECIPE, "--scale", "test", "--executor", "slurm", "--in-process"])
    assert refused.exit_code == 2 and "--parallel is for the local executor" in refused.output
    with pytest.raises(BadInput, match="--compile trains a run alone in its process"):
        reproduce(RECIPE, "test", out=tmp_path, device="cpu", progress=False, parallel=2, in_process=True, compile=True)
    assert not (tmp_path / "runs").exists()
