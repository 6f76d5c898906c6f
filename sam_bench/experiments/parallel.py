"""K cells of a grid at once on one device (`reproduce --parallel K`, and `--in-process`; docs/reproducing.md):
K fresh processes (`run_parallel`, spawned: no state of this process, CUDA's or torch's, is inherited), or K lanes
of this process (`run_in_process`, runtime/lanes.py). Either way each cell is `Reproduction.run_cell` as one at a
time runs it, so its weights and results are those of --parallel 1 (tests/test_parallel_cells.py).

The workers work under this process's claims (`executors.claimed_cells`) and end themselves within a second or two
of its death, so a claim left behind has no worker still writing to its cell. A spawned worker imports the main
module again: a script that calls `reproduce(parallel=K)` must guard its own work with `if __name__ == "__main__":`.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial

import torch
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.experiments.executors import cell_named
from sam_bench.experiments.zoo_cells import ZooCell, zoo_cells
from sam_bench.runtime import lanes
from sam_bench.runtime.provenance import resolve_device
from sam_bench.training.side_by_side import check

PARENT_POLL_S = 1.0


def check_parallel(parallel: int, executor: str, in_process: bool = False) -> None:
    if parallel < 1:
        raise BadInput(f"--parallel must be 1 or more, got {parallel}")
    if parallel > 1 and executor != "local":
        raise BadInput("--parallel is for the local executor (on SLURM each cell is a job of its own)")
    if in_process and parallel < 2:
        raise BadInput("--in-process runs --parallel K cells side by side in one process: give --parallel 2 or more")


def _start_worker(parent: int, threads: int | None) -> None:
    """In each worker: the threads of a run alone (CPU results depend on them), and an end with its parent."""
    if threads is not None:
        torch.set_num_threads(threads)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # the parent is gone, its claims with it: no cell may be written unclaimed

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _cell(grid, run_name: str, deadline: float | None) -> tuple[bool, list[str], list[str]]:
    """One cell in a worker: (finished, the lines it logged, the cell if its weights were not here to evaluate).
    A model trained elsewhere (sam_bench.experiments.zoo_cells) is evaluated, never trained."""
    repro = grid.reproduction(progress=False, echo=False)  # its notes go back to the parent, which prints them
    plan = cell_named(grid, repro, run_name)
    if isinstance(plan, ZooCell):
        return repro.run_zoo_cell(plan.entry, deadline), repro.notes, repro.not_evaluated
    return repro.run_cell(plan, deadline), repro.notes, repro.not_evaluated


def run_parallel(repro, grid, parallel: int, deadline: float | None, threads: int | None = None) -> bool:
    """The cells of `repro.work`, then its models trained elsewhere, `parallel` at a time, each in a fresh process;
    True when all finished and were evaluated. The caller holds their claims. A cell that fails or that the time
    limit stops starts no other; an error is raised once the cells running have ended."""
    files.write_json(repro.out / "plan.json", repro.recipe.describe())
    cells = [*repro.work, *zoo_cells(repro)]
    context = multiprocessing.get_context("spawn")
    finished = True
    with (
        ProcessPoolExecutor(
            max_workers=parallel, mp_context=context, initializer=_start_worker, initargs=(os.getpid(), threads)
        ) as pool,
        tqdm(
            total=len(cells),
            desc=f"{repro.recipe.name} ({repro.recipe.scale}), {parallel} at once",
            unit="model",
            disable=not repro.progress,
        ) as bar,
    ):
        # K cells submitted at a time, the next one as one ends: a pool takes more than K calls off its queue
        # (they can no longer be cancelled), and no cell may start after the time limit has stopped one
        waiting = list(cells)
        pending: dict[Future, object] = {}
        while waiting or pending:
            while waiting and len(pending) < parallel and finished:
                plan = waiting.pop(0)
                pending[pool.submit(_cell, grid, plan.run_name, deadline)] = plan
            if not pending:
                break  # stopped by the time limit: the cells still waiting are left for the next call
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                pending.pop(future)
                error = future.exception()
                if error is not None:  # the cells running end first (the pool waits for them); none starts
                    if isinstance(error, BrokenProcessPool):
                        raise SamBenchError(
                            "a process of --parallel ended without a word (killed, or out of memory?); what its "
                            "cell had done is kept: run the same command again to continue"
                        ) from None
                    raise error
                cell_finished, notes, not_evaluated = future.result()
                for line in notes:
                    repro.log(line)
                repro.not_evaluated += not_evaluated  # the grid goes on; the call is not complete
                finished = finished and cell_finished  # a cell the time limit stopped: no other starts
                bar.update(1)
    return finished and not repro.not_evaluated


def run_in_process(repro, parallel: int, deadline: float | None) -> bool:
    """As `run_parallel`, the cells side by side in this process (runtime/lanes.py)."""
    for plan in repro.work:
        check(plan.config)
    files.write_json(repro.out / "plan.json", repro.recipe.describe())
    cells = [*repro.work, *zoo_cells(repro)]
    device = resolve_device(repro.recipe.models[0].config.device if repro.recipe.models else "auto")
    notes: list[list[str]] = [[] for _ in cells]

    def job(index: int) -> bool:
        cell = copy.copy(repro)  # the grid's lists of what waits, shared; its notes its own, said as it ends
        cell.progress, cell.echo, cell.notes = False, False, notes[index]
        if index >= len(repro.work):  # a model trained elsewhere (zoo_cells): evaluated, never trained
            return cell.run_zoo_cell(cells[index].entry, deadline)
        return cell.run_cell(cells[index], deadline)

    with tqdm(
        total=len(cells),
        desc=f"{repro.recipe.name} ({repro.recipe.scale}), {parallel} side by side",
        unit="model",
        disable=not repro.progress,
    ) as bar:

        def ended(index: int, outcome: lanes.Outcome) -> bool:
            for line in notes[index]:
                repro.log(line)
            bar.update(1)
            return outcome.error is None and outcome.value is True  # a failure or a stop starts no other

        outcomes = lanes.run((partial(job, i) for i in range(len(cells))), parallel, device, ended)
    errors = [o.error for o in outcomes if o.error is not None]
    if errors:
        raise errors[0]
    return len(outcomes) == len(cells) and all(o.value for o in outcomes) and not repro.not_evaluated
