"""What a grid's SLURM jobs ask for: resources, names, setup lines, and the sbatch script that says it.

Each setting comes from the recipe's `slurm:` block, then its scale's, then the command line; the
block's `models:` part sets any of them for some models (names or shell patterns, e.g. "AT-*"), and
a model's own setting wins over the grid-wide one wherever that came from. Each setting's names on the
command line and in submitit and sbatch: the table in docs/cluster.md.
"""

from __future__ import annotations

import fnmatch
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sam_bench.errors import BadInput, SamBenchError

# SLURM's controller looks at running jobs' time limits every 30 s (PERIODIC_TIMEOUT in slurmctld.h) and
# sends the --signal warning at the first look where the time left is at most the delay plus those 30 s
# (send_job_warn_signal in job_mgr.c): the warning comes 0-30 s earlier than asked. A warning that comes
# before the job's process is up is lost (no step yet) or kills it (the signal's default action):
# 1-minute test jobs signalled 40 s before their limit were warned at their first look, 0-30 s in, and
# one, warned as it started, ran into its limit unwarned (TIMEOUT instead of REQUEUED).
SLURM_TIME_CHECK_S = 30
JOB_START_S = 10  # the least time a job is given to start srun, Python and submitit's handler before a warning

# submitit is imported where a SLURM job is submitted, watched or requeued, never at the top: the
# local executor, and a machine without submitit, must work without it.


def _submitit():
    try:
        import submitit
    except ImportError:
        raise SamBenchError("--executor slurm needs the submitit package (pip install submitit)") from None
    return submitit


# the settings a `models:` entry may change: what a job asks of the cluster
PER_MODEL = (
    "partition",
    "account",
    "qos",
    "time_minutes",
    "cpus_per_job",
    "mem",
    "gpus_per_job",
    "gres",
    "constraint",
    "exclude",
    "nodes",
    "tasks_per_node",
    "job_name",
    "setup",
    "srun_args",
    "extra",
    "threads",
)


@dataclass
class SlurmOptions:
    """Per-job resources of a grid; `for_model` gives one model's."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    mem: str | None = None
    gres: str | None = None
    constraint: str | None = None
    exclude: str | None = None
    nodes: int = 1
    tasks_per_node: int = 1
    time_minutes: int = 24 * 60
    job_name: str | None = None  # None: <recipe>-<model>
    setup: list = field(default_factory=list)
    srun_args: list = field(default_factory=list)
    # torch threads of each task; None: as many as the task's CPUs (cpus_per_job)
    threads: int | None = None
    array_parallelism: int = 64
    # seconds before the time limit that SLURM signals the job to checkpoint and requeue (submitit's
    # default): a checkpoint must fit in it, and it must leave the job time to start (check, below)
    signal_delay_s: int = 90
    # how many times one job may reach its time limit and requeue (submitit's default 3): a model that
    # needs 12 h on a 4 h partition needs at least 2
    max_timeouts: int = 3
    # False for clusters that forbid requeueing: sbatch --no-requeue, and a job at its time limit ends
    # (its checkpoint kept) instead of requeueing; the next `reproduce` submits the cell again
    requeue: bool = True
    extra: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # model name or pattern -> settings of PER_MODEL

    @classmethod
    def from_recipe(cls, recipe_ref: str, scale: str, **command_line) -> SlurmOptions:
        """The recipe's block, its scale's, then the command line's values (None: not given).
        `models` on the command line: pattern -> settings, applied after the recipe's."""
        from sam_bench.recipes.recipe import _read, merge

        data, where = _read(recipe_ref)
        block = merge(data.get("slurm") or {}, ((data.get("scales") or {}).get(scale) or {}).get("slurm") or {})
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(block) - names)
        if unknown:
            raise BadInput(f"{where}: unknown slurm setting {unknown[0]!r}; the block takes {', '.join(sorted(names))}")
        models = dict(block.get("models") or {})
        for pattern, settings in models.items():
            wrong = sorted(set(settings or {}) - set(PER_MODEL))
            if wrong:
                raise BadInput(
                    f"{where}: slurm models {pattern!r}: {wrong[0]!r} cannot be set per model; "
                    f"these can: {', '.join(PER_MODEL)}"
                )
        for pattern, settings in (command_line.pop("models", None) or {}).items():
            models[pattern] = {**(models.get(pattern) or {}), **settings}
        extra = {**(block.get("extra") or {}), **(command_line.pop("extra", None) or {})}
        setup = [*(block.get("setup") or []), *(command_line.pop("setup", None) or [])]
        srun_args = [*(block.get("srun_args") or []), *(command_line.pop("srun_args", None) or [])]
        given = {k: v for k, v in command_line.items() if v is not None}
        options = cls(**{**block, **given, "extra": extra, "setup": setup, "srun_args": srun_args, "models": models})
        for pattern in options.models:
            options.check(options.for_model(pattern, "?"))
        options.check(options)
        return options

    @staticmethod
    def check(options: SlurmOptions) -> None:
        delay, limit_s = int(options.signal_delay_s), 60 * int(options.time_minutes)
        if int(options.time_minutes) < 1:  # (SLURM's limits are whole minutes)
            raise BadInput(
                f"the time limit must be 1 minute or more, got {options.time_minutes} (--slurm-time, time_minutes)"
            )
        if not 0 < delay <= limit_s - SLURM_TIME_CHECK_S - JOB_START_S:
            raise BadInput(
                f"the signal delay ({delay} s) must be positive and at most the time limit "
                f"({options.time_minutes} min) less {SLURM_TIME_CHECK_S + JOB_START_S} s: SLURM looks at time limits "
                f"every {SLURM_TIME_CHECK_S} s and signals a job once its time left is within the delay plus "
                f"{SLURM_TIME_CHECK_S} s, so a longer delay can signal it before the job is up to checkpoint"
            )
        if int(options.max_timeouts) < 0:
            raise BadInput(f"--slurm-max-timeouts must be 0 or more, got {options.max_timeouts}")
        for name in ("cpus_per_job", "nodes", "tasks_per_node"):
            if int(getattr(options, name)) < 1:
                raise BadInput(f"slurm {name} must be 1 or more, got {getattr(options, name)}")
        if options.threads is not None and int(options.threads) < 1:
            raise BadInput(f"--threads must be 1 or more, got {options.threads}")

    def for_model(self, model: str, recipe: str) -> SlurmOptions:
        """This model's options: the grid's, then every `models:` entry whose pattern matches it (in
        order), with the job name filled in."""
        mine = replace(self, models={})
        for pattern, settings in self.models.items():
            if fnmatch.fnmatchcase(model, pattern):
                settings = dict(settings or {})
                extra = {**mine.extra, **(settings.pop("extra", None) or {})}
                setup = [*mine.setup, *(settings.pop("setup", None) or [])]
                srun_args = [*mine.srun_args, *(settings.pop("srun_args", None) or [])]
                mine = replace(mine, **settings, extra=extra, setup=setup, srun_args=srun_args)
        if mine.job_name is None:
            mine = replace(mine, job_name=f"{recipe}-{model}")
        return mine

    @property
    def task_threads(self) -> int:
        return int(self.threads) if self.threads is not None else int(self.cpus_per_job)

    def parameters(self) -> dict[str, Any]:
        """submitit's SlurmExecutor parameters for this model's jobs."""
        extra = dict(self.extra)
        if self.mem is not None:  # as the user wrote it (submitit's own `mem` takes a number of GB)
            extra.setdefault("mem", str(self.mem))
        if not self.requeue:
            extra.setdefault("no_requeue", True)
        optional = {
            "partition": self.partition,
            "account": self.account,
            "qos": self.qos,
            "gres": self.gres,
            "constraint": self.constraint,
            "exclude": self.exclude,
            "gpus_per_node": int(self.gpus_per_job) or None,
        }
        return {
            **{k: v for k, v in optional.items() if v is not None},
            "time": int(self.time_minutes),
            "cpus_per_task": int(self.cpus_per_job),
            "nodes": int(self.nodes),
            "ntasks_per_node": int(self.tasks_per_node),
            "array_parallelism": int(self.array_parallelism),
            "signal_delay_s": int(self.signal_delay_s),
            "job_name": self.job_name or "sam-bench",
            "additional_parameters": extra,
            # the user's lines first (module load, environment activation), then the threads: one per
            # CPU the task holds unless asked otherwise (reproduce --threads)
            "setup": [*self.setup, f"export OMP_NUM_THREADS={self.task_threads}"],
            "srun_args": self._srun_args(),
        }

    def _srun_args(self) -> list[str]:
        """The user's, and for several tasks --kill-on-bad-exit: a task that fails must end the others,
        which would otherwise wait for it in a collective until the process group's timeout."""
        args = list(self.srun_args)
        if int(self.nodes) * int(self.tasks_per_node) > 1 and not any("kill-on-bad-exit" in a for a in args):
            args.insert(0, "--kill-on-bad-exit=1")
        return args

    def executor(self, folder: Path):
        """submitit's executor for these jobs (their files in folder/<job id>/)."""
        executor = _submitit().SlurmExecutor(folder=folder / "%j", max_num_timeout=int(self.max_timeouts))
        executor.update_parameters(**self.parameters())
        return executor

    def sbatch_script(self, folder: Path, tasks: int) -> str:
        """The sbatch script submitit writes for an array of `tasks` cells with these options."""
        from submitit.slurm.slurm import _make_sbatch_string

        command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
        params = self.parameters()
        if tasks > 1:
            params["map_count"] = tasks
        return _make_sbatch_string(command=command, folder=folder, **params)


def parse_sbatch_options(pairs) -> dict:
    """--slurm-option NAME=VALUE or NAME (repeatable) -> {name: value or True} for submitit's
    additional_parameters: a name without a value is a flag (`--slurm-option exclusive`)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not name or (sep and not value.strip()):
            raise BadInput(
                f"--slurm-option {pair!r}: write it NAME=VALUE or NAME (a flag), e.g. --slurm-option account=myproj"
            )
        out[name] = value.strip() if sep else True
    return out


def parse_times(values) -> tuple[int | None, dict]:
    """--slurm-time MINUTES or MODEL=MINUTES (repeatable) -> (grid-wide minutes or None, models)."""
    grid: int | None = None
    models: dict[str, dict] = {}
    for value in values or ():
        pattern, sep, minutes = str(value).rpartition("=")
        try:
            number = int(minutes)
        except ValueError:
            raise BadInput(f"--slurm-time {value!r}: write it MINUTES or MODEL=MINUTES, e.g. 'AT-*=720'") from None
        if sep:
            models[pattern.strip()] = {"time_minutes": number}
        else:
            grid = number
    return grid, models
