"""Where `reproduce` runs its grid: `local` (this process, one model after another, as always) or
`slurm` (one SLURM job per cell of the grid, submitted as one job array through submitit; docs/cluster.md).

A cell is one run of the grid (one ModelPlan: a model, with its seed), or a model trained elsewhere (a ZooCell,
sam_bench.experiments.zoo_cells), whose job evaluates its zoo weights, never trains. A cell's job trains, publishes,
evaluates and ranks its model under the cell's claim (`sam_bench.jobs.lease`); the report is written under a lock
by whichever process sees the last cell finish. One job array per group of cells with the same resources and name.

Layout added to reproductions/<recipe>-<scale>/:
  cells/<run>.claim    a cell's claim (JSON: host, pid, SLURM job, token)
  cells/<run>.failed   the last line of the traceback of a cell's last failed attempt
  cells/jobs.json      run name -> SLURM job id of its latest submission
  slurm/<job id>/      submitit's files: the pickled cell, stdout/stderr of the job, its result
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.experiments.destination import reproduction_folder
from sam_bench.experiments.slurm_options import SlurmOptions, _submitit
from sam_bench.experiments.zoo_cells import ZooCell, find_zoo_models, zoo_cells
from sam_bench.jobs import lease
from sam_bench.jobs.slurm_state import LIVE_STATES, NOT_KNOWN, SchedulerUnreachable, job_state
from sam_bench.recipes.evaluation_block import evaluation_for


@dataclass
class GridRef:
    """What a job needs to rebuild the reproduction on its node: plain values, pickled by submitit."""

    recipe_ref: str
    scale: str
    out: str
    data_dir: str | None = None
    device: str = "auto"
    zoo_dir: str | None = None
    leaderboard_dir: str | None = None
    compile: bool | None = None  # reproduce --compile
    zoo_models: list[str] | None = None  # reproduce --zoo-model: in place of the recipe's `zoo` list

    @classmethod
    def of(
        cls,
        recipe_ref,
        scale,
        out=None,
        data_dir=None,
        device="auto",
        zoo_dir=None,
        leaderboard_dir=None,
        compile=None,
        zoo_models=None,
    ) -> GridRef:
        """The grid of a reproduce call, every path made absolute: jobs start in another folder."""
        from sam_bench.recipes.recipe import load_recipe

        def absolute(path) -> str | None:
            return None if path is None else str(Path(path).resolve())

        if out is None:
            out = reproduction_folder(load_recipe(recipe_ref, scale).name, scale)
        return cls(
            str(Path(recipe_ref).resolve()) if Path(recipe_ref).is_file() else recipe_ref,
            scale,
            str(Path(out).resolve()),
            absolute(data_dir),
            device,
            absolute(zoo_dir),
            absolute(leaderboard_dir),
            compile,
            list(zoo_models) if zoo_models else None,
        )

    def reproduction(self, progress: bool = False, echo: bool = True):
        """The reproduction, with its models trained elsewhere found in the zoo (one line for one it lacks)."""
        from sam_bench.experiments.reproduction import Reproduction
        from sam_bench.recipes.recipe import load_recipe

        recipe = load_recipe(
            self.recipe_ref, self.scale, data_dir=self.data_dir, device=self.device, compile=self.compile
        )
        repro = Reproduction(recipe, Path(self.out), self.zoo_dir, self.leaderboard_dir, progress, echo=echo)
        find_zoo_models(repro, self.zoo_models)
        return repro

    @property
    def cells_dir(self) -> Path:
        return Path(self.out) / "cells"


def grid_cells(repro) -> list:
    """Every cell of the grid: the recipe's runs (ModelPlan), then its models trained elsewhere (ZooCell)."""
    return [*repro.recipe.models, *zoo_cells(repro)]


def cell_named(grid: GridRef, repro, run_name: str):
    """The grid's cell of that run name (a ModelPlan, or a ZooCell: a zoo id is one)."""
    plan = next((cell for cell in grid_cells(repro) if cell.run_name == run_name), None)
    if plan is None:
        raise BadInput(f"{grid.recipe_ref} ({grid.scale}) has no run {run_name}; the recipe changed since submission")
    return plan


def cell_label(cell) -> str:
    """How a cell is named to the user: a model, `model:seed` for a later seed, a zoo id."""
    if isinstance(cell, ZooCell) or cell.seed == cell.config.seed:
        return cell.name
    return f"{cell.name}:{cell.seed}"


def cell_done(repro, plan) -> bool:
    """The cell's results file is there, made by this recipe's evaluation of this run (or kept as reused, or of
    a model trained elsewhere's zoo weights)."""
    from sam_bench.experiments.reproduction import _evaluation_key, results_path

    if isinstance(plan, ZooCell):
        return repro.zoo_results_current(plan.entry)
    path = results_path(repro.out, plan)
    if not path.is_file():
        return False
    from sam_bench.evaluation.results_record import Results

    results = Results.of(files.read_json(path))
    tag = results.reproduce or {}
    weights = results.model.weights_sha256 or ""
    if tag.get("settings_key") != plan.key:
        return False
    return tag.get("evaluation_key") == _evaluation_key(
        weights, evaluation_for(plan, repro.recipe.evaluation)
    ) or repro.results_kept_as_reused(plan)


def claim_path(out, run_name: str) -> Path:
    return Path(out) / "cells" / f"{run_name}{lease.CLAIM_SUFFIX}"


@contextmanager
def claimed_cells(out, plans):
    """The local executor's claim: every cell of the grid, for the whole run, so that no SLURM job
    (or a second local run) trains one of its models meanwhile. One clear line if one is taken."""
    claims = []
    try:
        for plan in plans:
            path = claim_path(out, plan.run_name)
            claim = lease.try_claim(path)
            if claim is None:
                holder, _ = lease.state(path)
                who = holder.describe() if holder else "another process"
                raise BadInput(
                    f"{plan.name} is being worked on by another process ({who}; claim {path}); "
                    "see --status, or wait for it"
                )
            claims.append(claim)
        yield
    finally:
        for claim in claims:
            claim.release()


def run_cell(grid: GridRef, run_name: str) -> str:
    """Train, publish, evaluate and rank one cell, unless it is done or another process holds it: done, finished,
    claimed (or worker, for a task of a multi-task job other than the first). A job of several tasks trains its
    model on all of them (sam_bench.runtime.distributed): the first task alone claims the cell and tells the others
    whether to train; after training it alone publishes, evaluates and ranks the model."""
    from sam_bench.runtime import distributed  # imports torch: here, never at the top (see test_executors)

    repro = grid.reproduction()
    plan = cell_named(grid, repro, run_name)
    if isinstance(plan, ZooCell):  # a zoo id, which no run name can be
        return run_zoo_cell(grid, repro, plan)
    group = distributed.start(grid.device) if distributed.launched_by_srun() else None
    if group is not None and not group.is_main:
        try:
            if group.agree(False):  # the first task's decision
                repro.train_model(plan, None)
        finally:
            distributed.stop()
        return "worker"
    claim = lease.try_claim(claim_path(grid.out, run_name))
    if claim is None:
        if group is not None:
            group.agree(False)
            distributed.stop()
        return "claimed"  # another job (or a local reproduce) is training this model now
    failed = grid.cells_dir / f"{run_name}.failed"
    try:
        done = cell_done(repro, plan)
        if group is not None:
            group.agree(not done)
        if not done:
            failed.unlink(missing_ok=True)
            try:
                meta = repro.train_model(plan, None)
            finally:
                distributed.stop()  # the other tasks are done; evaluation runs here alone
            entry = repro.publish(plan, meta)
            repro.rank(plan, repro.evaluate_model(plan, entry))
    finally:
        claim.release()
        distributed.stop()
    # A cell done by an earlier attempt still writes the report: that attempt may have reached its time
    # limit while it waited for the report's lock, and been requeued before writing it.
    finish_if_complete(grid)
    return "done" if done else "finished"


def run_zoo_cell(grid: GridRef, repro, cell: ZooCell) -> str:
    """A model trained elsewhere: run_cell without the training (its job has one task)."""
    claim = lease.try_claim(claim_path(grid.out, cell.run_name))
    if claim is None:
        return "claimed"
    try:
        done = cell_done(repro, cell)
        if not done:
            (grid.cells_dir / f"{cell.run_name}.failed").unlink(missing_ok=True)
            repro.run_zoo_cell(cell.entry)
    finally:
        claim.release()
    finish_if_complete(grid)
    return "done" if done else "finished"


def _failure_note(err: BaseException) -> str:
    """The line `--status` shows for a failed attempt: the traceback's last line, or what to do after a time limit."""
    if type(err).__name__ == "UncompletedJobError":  # submitit: the job's checkpoint asked not to requeue
        return "reached its time limit; requeueing is off (slurm requeue: false): reproduce again continues it"
    if isinstance(err, subprocess.CalledProcessError) and list(err.cmd)[:2] == ["scontrol", "requeue"]:
        return (
            "reached its time limit and the cluster refused to requeue it (scontrol requeue): reproduce again "
            "continues it; --slurm-no-requeue says so in advance"
        )
    return last_line(traceback.format_exc())


def say(repro, message: str) -> None:
    """What the user must see even with --quiet (submissions, failures): one line on stderr."""
    repro.notes.append(message)
    tqdm.write(message, file=sys.stderr)


def failure_line(err: Exception) -> str:
    """The remote traceback's last line (submitit's error holds it between two dashed lines, the logs after)."""
    parts = str(err).split("-" * 22)
    return last_line(parts[1] if len(parts) >= 3 else err)


def last_line(text: object) -> str:
    """The last non-blank line of str(text)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def finish_if_complete(grid: GridRef, repro=None) -> Path | None:
    """Write the report when every cell is done; the lock makes two finishers write it in turn."""
    from sam_bench.report.document import write_report

    repro = repro or grid.reproduction()
    if not all(cell_done(repro, cell) for cell in grid_cells(repro)):
        return None
    with files.locked(repro.out / "REPORT.md"):
        return write_report(repro.out)


class Cell:
    """A SLURM job's callable. On pre-emption or at the time limit submitit calls checkpoint(): it requeues this
    same cell, which resumes from the training checkpoint or the evaluation's chunk state."""

    def __init__(self, grid: GridRef, run_name: str, requeue: bool = True):
        self.grid, self.run_name, self.requeue = grid, run_name, requeue

    def checkpoint(self, *args, **kwargs):
        if not getattr(self, "requeue", True):  # (a Cell pickled before the option existed requeues)
            return None  # submitit then ends the job instead of requeueing it
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)

    def __call__(self) -> str:
        try:
            return run_cell(self.grid, self.run_name)
        except BaseException as err:
            # Said here, not in run_cell: SLURM's time-limit signal can land before run_cell has begun (the
            # job still importing torch under load), and the note must say why that attempt ended too.
            # The first task speaks for the job (a job of several tasks: SLURM_PROCID 0).
            if not isinstance(err, (KeyboardInterrupt, SystemExit)) and os.environ.get("SLURM_PROCID", "0") == "0":
                files.write_text(self.grid.cells_dir / f"{self.run_name}.failed", _failure_note(err) + "\n")
            raise
        finally:
            # This attempt is over. A time-limit warning (SIGUSR2) that arrives now must neither requeue
            # a finished cell nor kill the process once Python's shutdown has restored the signal's
            # default action (seen here: a job that finished as its warning came was FAILED in sacct).
            # Python leaves an ignored signal ignored through its shutdown.
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _jobs(grid: GridRef) -> dict:
    path = grid.cells_dir / "jobs.json"
    return files.read_json(path) if path.is_file() else {}


def holder_alive(grid: GridRef, run_name: str) -> bool:
    """A process that may still be alive holds the cell's claim (read only: nothing is taken)."""
    holder, gone = lease.state(claim_path(grid.out, run_name))
    return holder is not None and gone is None


def _state(job_id: str) -> str:
    """The job's state for --status and resubmission; UNREACHABLE when the scheduler does not answer."""
    try:
        return job_state(job_id)
    except SchedulerUnreachable:
        return "UNREACHABLE"


def cell_states(grid: GridRef) -> list[tuple[str, str]]:
    """(model name, state in words) for every cell, for `reproduce --status`; reads only, takes no claim."""
    repro = grid.reproduction()
    jobs = _jobs(grid)
    states = []
    for plan in grid_cells(repro):
        if cell_done(repro, plan):
            states.append((plan.name, "done"))
            continue
        words = []
        job_id = jobs.get(plan.run_name)
        if job_id:
            state = _state(job_id)
            words.append(f"SLURM job {job_id} " + ("not known to the scheduler" if state == NOT_KNOWN else state))
        holder, gone = lease.state(claim_path(grid.out, plan.run_name))
        if holder is not None:
            words.append(f"running ({holder.describe()})" if gone is None else f"claim left behind: {gone}")
        log = repro.out / "runs" / plan.run_name / "log.jsonl"
        if log.is_file() and not isinstance(plan, ZooCell):
            epochs = len(log.read_text().splitlines())
            words.append(f"trained {epochs}/{plan.config.epochs} epochs")
        words += _evaluation_words(repro, plan)
        failed = grid.cells_dir / f"{plan.run_name}.failed"
        if failed.is_file():
            words.append(f"last attempt failed: {failed.read_text().strip()}")
        states.append((plan.name, ", ".join(words) or "not started"))
    return states


def _evaluation_words(repro, plan) -> list[str]:
    """Where a cell's evaluation stands (a long one would otherwise show as a job stuck after its last epoch):
    its chunks done so far (evaluation/chunk_state.py), or results of an earlier evaluation to be replaced."""
    from sam_bench.evaluation.chunk_state import ChunkState
    from sam_bench.experiments.reproduction import evaluation_state_path, results_path, zoo_evaluation_state_path
    from sam_bench.report.imported_models import results_path as zoo_results_path

    if isinstance(plan, ZooCell):
        results, state = zoo_results_path(repro.out, plan.name), zoo_evaluation_state_path(repro.out, plan.name)
    else:
        results, state = results_path(repro.out, plan), evaluation_state_path(repro.out, plan)
    chunks = list(ChunkState(state).chunks.values())
    if chunks:
        minutes = sum(float(chunk.get("seconds") or 0.0) for chunk in chunks) / 60
        return [f"evaluation under way: {len(chunks)} chunk{'s' * (len(chunks) != 1)} done ({minutes:.1f} minutes)"]
    if results.is_file():
        return ["results of an earlier evaluation (the next call evaluates it again)"]
    return []


def _needs_job(grid: GridRef, repro, plan, jobs: dict) -> bool:
    """Neither done, nor held by a live process, nor in a job the scheduler still has (or cannot be asked about)."""
    if cell_done(repro, plan) or holder_alive(grid, plan.run_name):
        return False
    job_id = jobs.get(plan.run_name)
    return not (job_id and _state(job_id) in LIVE_STATES | {"UNREACHABLE"})


def job_groups(grid: GridRef, repro, plans, options: SlurmOptions) -> list[tuple[SlurmOptions, list]]:
    """The cells to submit, grouped by the options of their models: one job array per group."""
    groups: dict[str, tuple[SlurmOptions, list]] = {}
    for plan in plans:
        mine = options.for_model(plan.name, repro.recipe.name)
        if isinstance(plan, ZooCell):  # an evaluation alone: one process, whatever a training asks for
            mine = replace(mine, nodes=1, tasks_per_node=1)
        groups.setdefault(repr(sorted(asdict(mine).items())), (mine, []))[1].append(plan)  # the same options: one array
    return list(groups.values())


def dry_run(grid: GridRef, options: SlurmOptions) -> list[tuple[list[str], str]]:
    """(model names, sbatch script) of each job array `--executor slurm` would submit now; writes nothing."""
    repro = grid.reproduction()
    jobs = _jobs(grid)
    todo = [p for p in grid_cells(repro) if _needs_job(grid, repro, p, jobs)]
    folder = repro.out / "slurm" / "%j"
    return [
        ([cell_label(p) for p in group], o.sbatch_script(folder, len(group)))
        for o, group in job_groups(grid, repro, todo, options)
    ]


def cancel(grid: GridRef) -> list[str]:
    """scancel every job of the grid that the scheduler still has; returns their ids."""
    live = [job_id for job_id in _jobs(grid).values() if _state(job_id) in LIVE_STATES]
    if live:
        done = subprocess.run(["scancel", *live], capture_output=True, text=True)
        if done.returncode != 0:
            raise SamBenchError(f"scancel refused: {last_line(done.stderr or done.stdout)}")
    return live


def _submit(grid: GridRef, options: SlurmOptions, repro, plans) -> list:
    executor = options.executor(repro.out / "slurm")
    # submitit prints a refusing sbatch's whole stderr before it raises: held back, so that a refusal is the
    # one line below; what it says on a submission that went through is passed on.
    said = io.StringIO()
    try:
        with redirect_stderr(said), executor.batch():  # one sbatch: a job array of the cells
            jobs = [executor.submit(Cell(grid, p.run_name, options.requeue)) for p in plans]
    except (OSError, subprocess.CalledProcessError, RuntimeError) as err:  # no sbatch, or it refused
        raise SamBenchError(
            f"could not submit the grid to SLURM: {last_line(getattr(err, 'output', b'') or err)}"
        ) from None
    sys.stderr.write(said.getvalue())
    return jobs


def run_on_slurm(
    grid: GridRef, options: SlurmOptions, wait: bool = True, progress: bool = True, poll_seconds: float = 2.0
) -> tuple[bool, Path]:
    """Submit every cell that needs a job (one array per group of options), then return or wait for the jobs
    with a progress bar; (complete, report path)."""
    repro = grid.reproduction(progress)
    files.write_json(repro.out / "plan.json", repro.recipe.describe())
    report = repro.out / "REPORT.md"
    plans = grid_cells(repro)
    with files.locked(grid.cells_dir / "jobs.json"):  # two reproduce calls must not both submit a cell
        jobs = _jobs(grid)
        todo = [p for p in plans if _needs_job(grid, repro, p, jobs)]
        for mine, group in job_groups(grid, repro, todo, options):
            submitted = _submit(grid, mine, repro, group)
            for plan, job in zip(group, submitted):
                jobs[plan.run_name] = job.job_id
            files.write_json(grid.cells_dir / "jobs.json", jobs)
            say(
                repro,
                f"submitted {len(group)} of {len(plans)} cells ({', '.join(dict.fromkeys(p.name for p in group))}) "
                f"as SLURM job {submitted[0].job_id.split('_')[0]} ({mine.job_name}); follow with --status or squeue",
            )
    if not wait:
        return finish_if_complete(grid, repro) is not None, report
    watched = {
        p.run_name: (p.name, _submitit().SlurmJob(folder=repro.out / "slurm" / "%j", job_id=jobs[p.run_name]))
        for p in plans
        if p.run_name in jobs and not cell_done(repro, p)
    }
    with tqdm(
        total=len(plans),
        initial=len(plans) - len(watched),
        desc=f"{repro.recipe.name} ({repro.recipe.scale}) on SLURM",
        unit="cell",
        disable=not progress,
    ) as bar:
        polls = 0
        while watched:
            polls += 1
            for run_name, (name, job) in list(watched.items()):
                if not job.done():
                    # submitit counts a job the scheduler has forgotten (purged, lost with its node) as
                    # alive forever: every 30 polls, ask the scheduler, and the cell's claim, ourselves
                    if polls % 30 or _state(job.job_id) != NOT_KNOWN or holder_alive(grid, run_name):
                        continue
                    del watched[run_name]
                    bar.update(1)
                    say(repro, f"{name}: job {job.job_id} is no longer known to SLURM and nothing holds the cell")
                    continue
                del watched[run_name]
                bar.update(1)
                try:
                    job.result()
                except Exception as err:  # the cell's own failure, or the job's (cancelled, out of memory)
                    say(repro, f"{name}: job {job.job_id} failed: {failure_line(err)}")
            if watched:
                states = [job.state for _, job in watched.values()]
                bar.set_postfix_str(f"{states.count('RUNNING')} running, {states.count('PENDING')} pending")
                time.sleep(poll_seconds)
    complete = finish_if_complete(grid, repro) is not None
    if not complete:
        say(repro, "some cells are not done (see above, or --status); run the same command again to resubmit them")
    return complete, report
