"""`sam-bench reproduce`: run a recipe's grid end to end (one cell at a time: experiments.reproduction; or
executors, parallel) and write its report (`report.write_report`: REPORT.md and plots).

Layout of a reproduction folder (by default reproductions/<recipe>-<scale> under the working directory):
  plan.json                     the resolved recipe
  runs/<model>-<key>/           run directories (key: hash of the training settings)
  results/<model>-<key>.json    evaluation results (`sam-bench evaluate`'s schema)
  extensions/<test>/<model>-<key>.json   the extension tests' measurements (experiments.extension_runs)
  model_zoo/, leaderboards/     only for scales with `publish: false` (smoke): kept out of the
                                project's own zoo and leaderboards
  REPORT.md, *.png              the report
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from sam_bench import files
from sam_bench.data import FROM_FILES, locate
from sam_bench.errors import BadInput
from sam_bench.experiments.destination import reproduction_folder
from sam_bench.experiments.executors import GridRef, claimed_cells, run_on_slurm
from sam_bench.experiments.extension_runs import measure_extensions
from sam_bench.experiments.parallel import check_parallel, run_in_process, run_parallel
from sam_bench.experiments.reproduction import Reproduction
from sam_bench.experiments.slurm_options import SlurmOptions
from sam_bench.experiments.zoo_cells import find_zoo_models, zoo_cells
from sam_bench.leaderboard.board import boards_dir
from sam_bench.recipes.evaluation_block import evaluation_specs
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report.document import write_report
from sam_bench.runtime import clock
from sam_bench.zoo.store import _locate


def reproduce(
    recipe_ref: str,
    scale: str,
    data_dir: str | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    zoo_dir=None,
    leaderboard_dir=None,
    max_minutes: float | None = None,
    progress: bool = True,
    stop_at: float | None = None,
    executor: str = "local",
    slurm=None,
    wait: bool = True,
    only: list[str] | None = None,
    compile: bool | None = None,
    threads: int | None = None,
    parallel: int = 1,
    in_process: bool = False,
    zoo_models: list[str] | None = None,
    leaderboard: bool = True,
    extensions: bool = True,
) -> tuple[bool, Path]:
    """Run the grid and (when it is complete) write the report. Returns (complete, report path).
    A time limit is `max_minutes` from this call's start or `stop_at` (a `time.time()` value).
    executor "slurm" runs each model as a SLURM job (sam_bench.experiments.executors; slurm: its SlurmOptions).
    `only`: work on these models of the grid ("SAM-0.1": all its seeds, "SAM-0.1:2": seed 2), the report still
    covering every run with results. `compile` (when given) turns torch.compile on or off for every training.
    `threads`: torch's CPU threads (local default: torch's; slurm default: the job's CPUs).
    `parallel`: cells worked on at once, each in a process of its own, or with `in_process` side by side in this
    one (sam_bench.experiments.parallel).
    `out`: the folder written, default reproductions/<recipe>-<scale> under the working directory, refused where
    that is the project's committed evidence (sam_bench.experiments.destination).
    `zoo_models`: zoo ids of models trained elsewhere to evaluate beside the grid, in place of the recipe's `zoo`.
    `leaderboard` False: nothing goes on a board (no publication gate runs); `leaderboard add` publishes later.
    `extensions` False: the recipe's extension tests are not measured (the grid is then not complete)."""
    if only is not None and not only:  # an empty list must not mean the whole grid
        raise BadInput("--only names no model; give NAME[,NAME:SEED...], or leave it out for the whole grid")
    check_parallel(parallel, executor, in_process)
    if not leaderboard and (executor == "slurm" or parallel > 1):
        raise BadInput(
            "--no-leaderboard is for the local executor, one model at a time: leave out --executor slurm and --parallel"
        )
    if executor == "slurm":
        if only:
            raise BadInput("--only is for the local executor (a SLURM grid skips finished cells by itself)")
        grid = GridRef.of(recipe_ref, scale, out, data_dir, device, zoo_dir, leaderboard_dir, compile, zoo_models)
        options = slurm or SlurmOptions.from_recipe(recipe_ref, scale)
        if threads is not None:
            options = replace(options, threads=threads)
        return run_on_slurm(grid, options, wait, progress)

    recipe = load_recipe(recipe_ref, scale, data_dir=data_dir, device=device, compile=compile)
    if only:
        unknown = sorted(set(only) - {m.name for m in recipe.models} - {f"{m.name}:{m.seed}" for m in recipe.models})
        if unknown:
            raise BadInput(
                f"--only: {recipe.name} ({scale}) has no model (or model:seed) {unknown[0]!r}; it has "
                f"{', '.join(dict.fromkeys(m.name for m in recipe.models))}"
            )
    evaluation_specs(recipe.evaluation)  # a bad evaluation block or a missing pyautoattack fails before any training
    out = reproduction_folder(recipe.name, scale, out)
    check_data(recipe)
    repro = Reproduction(recipe, out, zoo_dir, leaderboard_dir, progress, only)
    repro.ranks = leaderboard
    find_zoo_models(repro, zoo_models)  # the models trained elsewhere, found in the zoo before anything is written
    files.check_writable(out / "plan.json")
    if threads is not None:
        if threads < 1:
            raise BadInput(f"--threads must be 1 or more, got {threads}")
        torch.set_num_threads(threads)
    deadline = stop_at if stop_at is not None else clock.stop_at(max_minutes, started=time.time())
    # no SLURM job (or another reproduce) trains or evaluates these models meanwhile
    with claimed_cells(out, [*repro.work, *zoo_cells(repro)]):
        if parallel > 1 and in_process:
            complete = run_in_process(repro, parallel, deadline)
        elif parallel > 1:
            grid = GridRef.of(recipe_ref, scale, out, data_dir, device, zoo_dir, leaderboard_dir, compile, zoo_models)
            complete = run_parallel(repro, grid, parallel, deadline, threads)
        else:
            complete = repro.run(deadline)
        if recipe.endpoints.extension_tests and not extensions:
            complete = False  # left for a later call
        elif recipe.endpoints.extension_tests:  # trained runs' extension measurements, finished grids' included
            measured = measure_extensions(recipe, out, deadline, only, repro.log, progress, repro.zoo_dir)
            complete = complete and measured
    report = write_report(out)
    if complete and leaderboard:
        repro.render_leaderboards()
    return complete, report


def check_data(recipe) -> None:
    """The data every model of the grid reads, found before anything runs: a grid without it is refused in one
    line rather than judged from whatever results its folder already holds."""
    needed = {(plan.config.dataset, plan.config.data_dir) for plan in recipe.models}
    for dataset, data_dir in sorted(needed, key=str):
        if dataset in FROM_FILES:
            try:
                locate(dataset, data_dir, instead="or try --scale smoke, which runs on the bundled sample")
            except BadInput as err:
                raise BadInput(f"{recipe.name} at scale {recipe.scale} needs its data: {err}") from None


def artifacts(out: str | Path, zoo_dir=None, leaderboard_dir=None) -> dict:
    """Where a reproduction's products are: report, plots, zoo entries, leaderboard pages."""
    out = Path(out)
    publish = files.read_json(out / "plan.json").get("publish", True)
    zoo_dir = zoo_dir if publish else (zoo_dir or out / "model_zoo")
    boards = boards_dir(leaderboard_dir if publish else (leaderboard_dir or out / "leaderboards"))
    entries = []
    for results in sorted((out / "results").glob("*.json")):
        zoo_id = (files.read_json(results).get("model") or {}).get("zoo_id")
        if zoo_id:
            entries.append(_locate(zoo_id, zoo_dir))
    return {
        "report": out / "REPORT.md",
        "plots": sorted(out.glob("*.png")),
        "zoo": entries,
        "leaderboard pages": sorted(boards.glob("*.html")),
    }
