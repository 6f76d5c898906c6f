"""Where `reproduce` runs its grid: `local` (this process, one model after another, as always) or
`slurm` (one SLURM job per cell of the grid, submitted as one job array through submitit).

A cell is one run of the grid (one ModelPlan: a model, with its seed): its job trains the model,
adds it to the zoo, evaluates the zoo's weights and writes the leaderboard entry. Training and
evaluation share one job because evaluation needs exactly the weights training just wrote, it costs
a small fraction of training, and a second job would wait in the queue again and need a dependency
chain for nothing; both halves resume from their own state files, so a requeued job loses little.

Shared state is safe under concurrency: a cell is claimed with a lock file (cells/<run>.lock, held
while the cell runs, released by the kernel if the job dies), so no two jobs - or a job and a user's
local run - train the same model; the zoo and leaderboard writes lock themselves (files.locked), and
the report is written under a lock by whichever process sees the last cell finish (a job, a waiting
`reproduce`, or the next `reproduce` call).

Layout added to reproductions/<recipe>-<scale>/:
  cells/<run>.lock     a cell's claim
  cells/<run>.failed   the last line of the traceback of a cell's last failed attempt
  cells/jobs.json      run name -> SLURM job id of its latest submission
  slurm/<job id>/      submitit's files: the pickled cell, stdout/stderr of the job, its result
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError

if TYPE_CHECKING:
    import submitit

# submitit is imported where a SLURM job is submitted, watched or requeued, never at the top: the
# local executor, and a machine without submitit (a lent GPU, docs/gpu.md), must work without it.


def _submitit():
    try:
        import submitit
    except ImportError:
        raise SamBenchError("--executor slurm needs the submitit package (pip install submitit)") from None
    return submitit


EXECUTORS = ("local", "slurm")
# SLURM states in which a job may still run the cell (anything else: it has ended)
LIVE_STATES = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "UNKNOWN",
}


@dataclass
class SlurmOptions:
    """Per-job resources. Defaults come from the recipe's `slurm:` block (and its scale's), then the
    command line; `extra` holds any other #SBATCH option as name -> value (e.g. account, qos)."""

    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    time_minutes: int = 24 * 60
    array_parallelism: int = 64
    # seconds before the time limit that SLURM signals the job to checkpoint and requeue (submitit's
    # default): a checkpoint must fit in it, and it must be shorter than the time limit itself
    signal_delay_s: int = 90
    # how many times one job may reach its time limit and requeue (submitit's default 3): a model that
    # needs 12 h on a 4 h partition needs at least 2
    max_timeouts: int = 3
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, recipe_ref: str, scale: str, **command_line) -> SlurmOptions:
        from sam_bench.experiments.recipe import _read, merge

        data, where = _read(recipe_ref)
        block = merge(data.get("slurm") or {}, ((data.get("scales") or {}).get(scale) or {}).get("slurm") or {})
        names = {
            "partition",
            "gpus_per_job",
            "cpus_per_job",
            "time_minutes",
            "array_parallelism",
            "signal_delay_s",
            "max_timeouts",
            "extra",
        }
        unknown = sorted(set(block) - names)
        if unknown:
            raise BadInput(f"{where}: unknown slurm setting {unknown[0]!r}; the block takes {', '.join(sorted(names))}")
        extra = {**(block.get("extra") or {}), **(command_line.pop("extra", None) or {})}
        options = cls(**{**block, **{k: v for k, v in command_line.items() if v is not None}, "extra": extra})
        if not 0 < int(options.signal_delay_s) < 60 * int(options.time_minutes):
            raise BadInput(
                f"the signal delay ({options.signal_delay_s} s) must be positive and shorter than the "
                f"time limit ({options.time_minutes} min), or the job is told to requeue as it starts"
            )
        if int(options.max_timeouts) < 0:
            raise BadInput(f"--slurm-max-timeouts must be 0 or more, got {options.max_timeouts}")
        return options

    def executor(self, folder: Path) -> submitit.SlurmExecutor:
        executor = _submitit().SlurmExecutor(folder=folder / "%j", max_num_timeout=int(self.max_timeouts))
        executor.update_parameters(
            partition=self.partition,
            time=int(self.time_minutes),
            cpus_per_task=int(self.cpus_per_job),
            gpus_per_node=int(self.gpus_per_job) or None,
            array_parallelism=int(self.array_parallelism),
            signal_delay_s=int(self.signal_delay_s),
            job_name="sam-bench",
            additional_parameters=dict(self.extra),
            # one thread per CPU the job holds: the same results as a local run with the same threads
            setup=[f"export OMP_NUM_THREADS={int(self.cpus_per_job)}"],
        )
        return executor


def parse_sbatch_options(pairs) -> dict:
    """--slurm-option NAME=VALUE (repeatable) -> {name: value} for submitit's additional_parameters."""
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--slurm-option {pair!r}: write it NAME=VALUE, e.g. --slurm-option account=myproj")
        out[name.strip().lstrip("-").replace("-", "_")] = value.strip()
    return out


@dataclass
class Grid:
    """What a job needs to rebuild the reproduction on its node: plain values, pickled by submitit."""

    recipe_ref: str
    scale: str
    out: str
    data_dir: str | None = None
    device: str = "auto"
    zoo_dir: str | None = None
    leaderboard_dir: str | None = None
    compile: bool | None = None  # reproduce --compile

    @classmethod
    def of(
        cls, recipe_ref, scale, out=None, data_dir=None, device="auto", zoo_dir=None, leaderboard_dir=None, compile=None
    ) -> Grid:
        """The grid of a reproduce call, every path made absolute: jobs start in another folder."""
        from sam_bench.experiments.recipe import load_recipe

        def absolute(path) -> str:
            return str(Path(path).resolve())

        def absolute_or_none(path) -> str | None:
            return None if path is None else absolute(path)

        if out is None:
            out = Path("reproductions") / f"{load_recipe(recipe_ref, scale).name}-{scale}"
        ref = absolute(recipe_ref) if Path(recipe_ref).is_file() else recipe_ref
        return cls(
            ref,
            scale,
            absolute(out),
            absolute_or_none(data_dir),
            device,
            absolute_or_none(zoo_dir),
            absolute_or_none(leaderboard_dir),
            compile,
        )

    def reproduction(self, progress: bool = False):
        from sam_bench.experiments.grid import Reproduction
        from sam_bench.experiments.recipe import load_recipe

        recipe = load_recipe(
            self.recipe_ref, self.scale, data_dir=self.data_dir, device=self.device, compile=self.compile
        )
        return Reproduction(recipe, Path(self.out), self.zoo_dir, self.leaderboard_dir, progress)

    @property
    def cells_dir(self) -> Path:
        return Path(self.out) / "cells"


def cell_done(repro, plan) -> bool:
    """The cell's results file is there and was made by this recipe's evaluation of this run."""
    from sam_bench.experiments.grid import _evaluation_key, evaluation_for

    path = repro.out / "results" / f"{plan.run_name}.json"
    if not path.is_file():
        return False
    results = files.read_json(path)
    tag = results.get("reproduce", {})
    weights = results.get("model", {}).get("weights_sha256", "")
    return tag.get("settings_key") == plan.key and tag.get("evaluation_key") == _evaluation_key(
        weights, evaluation_for(plan, repro.recipe.evaluation)
    )


def _claim(grid: Grid, run_name: str) -> FileLock:
    grid.cells_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(grid.cells_dir / f"{run_name}.lock"))


@contextmanager
def claimed_cells(out, plans):
    """The local executor's claim: every cell of the grid, for the whole run, so that no SLURM job
    (or a second local run) trains one of its models meanwhile. One clear line if one is taken."""
    grid = Grid(recipe_ref="", scale="", out=str(out))
    claims = []
    try:
        for plan in plans:
            claim = _claim(grid, plan.run_name)
            try:
                claim.acquire(timeout=0)
            except Timeout:
                raise BadInput(
                    f"{plan.name} is being worked on by another process (a SLURM job or another "
                    f"reproduce, lock {claim.lock_file}); see --status, or wait for it"
                ) from None
            claims.append(claim)
        yield
    finally:
        for claim in claims:
            claim.release()


def run_cell(grid: Grid, run_name: str) -> str:
    """Train, publish, evaluate and rank one cell, unless it is done or another process holds it.
    Returns what happened in a word: done, finished, or claimed."""
    repro = grid.reproduction()
    plan = next((p for p in repro.recipe.models if p.run_name == run_name), None)
    if plan is None:
        raise BadInput(f"{grid.recipe_ref} ({grid.scale}) has no run {run_name}; the recipe changed since submission")
    claim = _claim(grid, run_name)
    try:
        claim.acquire(timeout=0)
    except Timeout:
        return "claimed"  # another job (or a local reproduce) is training this model now
    failed = grid.cells_dir / f"{run_name}.failed"
    try:
        if cell_done(repro, plan):
            return "done"
        failed.unlink(missing_ok=True)
        meta = repro.train_model(plan, None)
        entry = repro.publish(plan, meta)
        repro.rank(plan, repro.evaluate_model(plan, entry))
    except BaseException as err:
        if not isinstance(err, (KeyboardInterrupt, SystemExit)):
            files.write_text(failed, last_line(traceback.format_exc()) + "\n")
        raise
    finally:
        claim.release()
    finish_if_complete(grid)
    return "finished"


def say(repro, message: str) -> None:
    """What the user must see even with --quiet (submissions, failures): one line on stderr."""
    repro.notes.append(message)
    tqdm.write(message, file=sys.stderr)


def failure_line(err: Exception) -> str:
    """The remote traceback's last line: submitit's error puts the traceback between two dashed
    lines and the log paths after it; other errors (a cancelled job) are one message."""
    parts = str(err).split("-" * 22)
    return last_line(parts[1] if len(parts) >= 3 else err)


def last_line(text: object) -> str:
    """The last non-blank line of a message (an error or text: anything str() turns into lines)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def finish_if_complete(grid: Grid, repro=None) -> Path | None:
    """Write the report when every cell is done; the lock makes two finishers write it in turn."""
    from sam_bench.experiments.report import write_report

    repro = repro or grid.reproduction()
    if not all(cell_done(repro, plan) for plan in repro.recipe.models):
        return None
    with files.locked(repro.out / "REPORT.md"):
        return write_report(repro.out)


class Cell:
    """A SLURM job's callable. On pre-emption or at the time limit submitit calls checkpoint(): it
    requeues this same cell (as submitit.helpers.Checkpointable does), which resumes from the
    training checkpoint or the evaluation's chunk state."""

    def __init__(self, grid: Grid, run_name: str):
        self.grid, self.run_name = grid, run_name

    def checkpoint(self, *args, **kwargs):
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)

    def __call__(self) -> str:
        try:
            return run_cell(self.grid, self.run_name)
        finally:
            # This attempt is over. A time-limit warning (SIGUSR2) that arrives now must neither requeue
            # a finished cell nor kill the process once Python's shutdown has restored the signal's
            # default action (seen here: a job that finished as its warning came was FAILED in sacct).
            # Python leaves an ignored signal ignored through its shutdown.
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _jobs(grid: Grid) -> dict:
    path = grid.cells_dir / "jobs.json"
    return files.read_json(path) if path.is_file() else {}


def _job(grid: Grid, job_id: str) -> submitit.SlurmJob:
    return _submitit().SlurmJob(folder=Path(grid.out) / "slurm" / "%j", job_id=job_id)


def _claimed(grid: Grid, run_name: str) -> bool:
    claim = _claim(grid, run_name)
    try:
        claim.acquire(timeout=0)
    except Timeout:
        return True
    claim.release()
    return False


def cell_states(grid: Grid) -> list[tuple[str, str]]:
    """(model name, state in words) for every cell of the grid, for `reproduce --status`."""
    repro = grid.reproduction()
    jobs = _jobs(grid)
    states = []
    for plan in repro.recipe.models:
        if cell_done(repro, plan):
            states.append((plan.name, "done"))
            continue
        words = []
        job_id = jobs.get(plan.run_name)
        if job_id:
            words.append(f"SLURM job {job_id} {_job(grid, job_id).state}")
        if _claimed(grid, plan.run_name):
            words.append("running")
        log = repro.out / "runs" / plan.run_name / "log.jsonl"
        if log.is_file():
            epochs = len(log.read_text().splitlines())
            words.append(f"trained {epochs}/{plan.config.epochs} epochs")
        failed = grid.cells_dir / f"{plan.run_name}.failed"
        if failed.is_file():
            words.append(f"last attempt failed: {failed.read_text().strip()}")
        states.append((plan.name, ", ".join(words) or "not started"))
    return states


def run_on_slurm(
    grid: Grid, options: SlurmOptions, wait: bool = True, progress: bool = True, poll_seconds: float = 2.0
) -> tuple[bool, Path]:
    """Submit every cell that is neither done nor held by a live job (one job array), then either
    return or wait for the jobs with a progress bar. Returns (complete, report path)."""
    repro = grid.reproduction(progress)
    repro.out.mkdir(parents=True, exist_ok=True)
    files.write_json(repro.out / "plan.json", repro.recipe.describe())
    report = repro.out / "REPORT.md"
    plans = repro.recipe.models
    with files.locked(grid.cells_dir / "jobs.json"):  # two reproduce calls must not both submit a cell
        jobs = _jobs(grid)
        todo = [
            p
            for p in plans
            if not cell_done(repro, p)
            and not _claimed(grid, p.run_name)
            and not (p.run_name in jobs and _job(grid, jobs[p.run_name]).state in LIVE_STATES)
        ]
        if todo:
            executor = options.executor(repro.out / "slurm")
            try:
                with executor.batch():  # one sbatch: a job array of the cells
                    submitted = [executor.submit(Cell(grid, p.run_name)) for p in todo]
            except (OSError, subprocess.CalledProcessError, RuntimeError) as err:  # no sbatch, or it refused
                raise SamBenchError(
                    f"could not submit the grid to SLURM: {last_line(getattr(err, 'output', b'') or err)}"
                ) from None
            for plan, job in zip(todo, submitted):
                jobs[plan.run_name] = job.job_id
            files.write_json(grid.cells_dir / "jobs.json", jobs)
            say(
                repro,
                f"submitted {len(todo)} of {len(plans)} cells as SLURM job array "
                f"{submitted[0].job_id.split('_')[0]}; follow with --status or squeue",
            )
    if not wait:
        return finish_if_complete(grid, repro) is not None, report
    watched = {
        p.run_name: (p.name, _job(grid, jobs[p.run_name]))
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
        while watched:
            for run_name, (name, job) in list(watched.items()):
                if not job.done():
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
