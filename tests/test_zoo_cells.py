"""A model trained elsewhere is a cell of the grid under every executor: with `--parallel 2` and as a SLURM job of
its own its evaluation is that of one at a time, bit for bit (one thread a process), on a checkpoint made here
at the robustbench-small-budgets recipe's smoke scale (one trained model beside it, to keep the test short). Its
results reach the boards as `leaderboard add` puts them there, marked "trained elsewhere"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_executors import cluster, sam_bench  # noqa: F401 (cluster: the fixture of a running SLURM cluster)
from test_robustbench_small_budgets import MODEL_ID, import_model

from sam_bench import files
from sam_bench.experiments.reproduce import reproduce
from sam_bench.leaderboard import entries, publication
from sam_bench.zoo import store

SHIPPED = Path(__file__).parent.parent / "sam_bench" / "recipes" / "robustbench-small-budgets.yaml"


def small_recipe(folder: Path) -> str:
    """The shipped recipe's smoke scale with ST alone, trained on 256 images."""
    recipe = yaml.safe_load(SHIPPED.read_text())
    smoke = recipe["scales"]["smoke"]
    smoke["models"] = ["ST"]
    smoke["train"]["n_train"] = 256
    path = folder / "zoo-grid.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def evaluated(out: Path, name: str) -> dict:
    """A results file's figures and per-image outcomes, without its clocks."""
    results = files.read_json(out / "results" / f"{name}.json")
    evaluations = [{k: v for k, v in e.items() if not k.endswith("seconds")} for e in results["evaluations"]]
    for e in evaluations:  # each chunk's record holds its own clock
        e["chunks"] = {k: v for k, v in (e.get("chunks") or {}).items() if "second" not in k}
    return {"weights": results["model"]["weights_sha256"], "clean": results["clean_acc"], "evaluations": evaluations}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The recipe, the zoo holding the imported model, and what one cell at a time makes of it."""
    folder = tmp_path_factory.mktemp("zoo-grid")
    import_model(folder)
    recipe = small_recipe(folder)
    out = folder / "alone"
    common = dict(zoo_dir=folder / "zoo", zoo_models=[MODEL_ID], device="cpu", progress=False, threads=1)
    complete, _ = reproduce(recipe, "smoke", out=out, **common)
    assert complete
    return recipe, folder / "zoo", evaluated(out, MODEL_ID), out


def test_with_parallel_cells_a_zoo_model_is_a_worker_that_evaluates_as_alone(grid, tmp_path):
    recipe, zoo, alone, _ = grid
    complete, report = reproduce(
        recipe,
        "smoke",
        out=tmp_path,
        zoo_dir=zoo,
        zoo_models=[MODEL_ID],
        device="cpu",
        progress=False,
        threads=1,
        parallel=2,
    )
    assert complete and report.is_file()
    assert evaluated(tmp_path, MODEL_ID) == alone
    assert not (tmp_path / "runs" / MODEL_ID).exists()  # evaluated, never trained
    assert not list((tmp_path / "cells").glob("*.claim"))  # every claim, the zoo model's too, released


@pytest.mark.slurm
def test_on_slurm_a_zoo_model_is_a_job_of_its_own_that_evaluates_as_alone(cluster, grid, tmp_path):  # noqa: F811
    recipe, zoo, alone, _ = grid
    args = ["reproduce", recipe, "--scale", "smoke", "--out", str(tmp_path), "--device", "cpu", "--quiet"]
    args += ["--zoo-dir", str(zoo), "--zoo-model", MODEL_ID, "--executor", "slurm"]
    dry = sam_bench(cluster, *args, "--dry-run").stdout
    assert MODEL_ID in dry and not (tmp_path / "cells" / "jobs.json").exists()
    sam_bench(cluster, *args, timeout=900)
    jobs = json.loads((tmp_path / "cells" / "jobs.json").read_text())
    assert MODEL_ID in jobs and len(jobs) == 2  # ST's job and the zoo model's
    assert evaluated(tmp_path, MODEL_ID) == alone
    assert not (tmp_path / "runs" / MODEL_ID).exists()
    status = sam_bench(cluster, *args[:-2], "--status").stdout.splitlines()
    assert f"{MODEL_ID}: done" in status and "ST: done" in status
    assert "## Models trained elsewhere" in (tmp_path / "REPORT.md").read_text()
    assert list((tmp_path / "leaderboards").glob(f"cifar10/*/{MODEL_ID}.json"))  # its job ranked it


def test_a_zoo_model_reaches_the_boards_as_leaderboard_add_puts_it_there_marked_trained_elsewhere(grid, tmp_path):
    _, zoo, _, out = grid
    boards = out / "leaderboards"
    trained_here = {p.parent.name for p in boards.glob("cifar10/*/*.json") if p.stem != MODEL_ID}
    reached = {p.parent.name: files.read_json(p) for p in boards.glob(f"cifar10/*/{MODEL_ID}.json")}
    assert "Linf-2-255" in reached and set(reached) == trained_here  # every board ST's results reach
    entry = store.find_entry(MODEL_ID, zoo)
    for info in reached.values():
        assert info["sam_bench"]["trained_elsewhere"] == entries.trained_elsewhere_text(entry)
        assert info["footnote"].startswith("Trained elsewhere, not by sam-bench (PGD AT of a lab elsewhere")
    results = out / "results" / f"{MODEL_ID}.json"
    added = publication.add(results, tmp_path / "boards", zoo, device="cpu")  # `leaderboard add` of the same file
    assert {p.parent.name: files.read_json(p) for p in added} == reached
    page = next(boards.glob("cifar10-Linf-2-255*.md")).read_text()
    row = next(line for line in page.splitlines() if MODEL_ID in line)
    assert "(trained elsewhere)" in row  # the board's page, rendered when the grid was complete
