"""The command-line skin of sam_bench.experiments.executors: `reproduce --executor slurm` and its options."""

from __future__ import annotations

from pathlib import Path

import click

from sam_bench.cli.options import given_on_command_line, stacked
from sam_bench.errors import BadInput
from sam_bench.experiments.slurm_options import SlurmOptions, parse_sbatch_options, parse_times

# --executor, the --slurm-* resources, --wait/--no-wait and --status: keyword arguments of the command that
# `reproduce_settings` turns into reproduce()'s
executor_options = stacked(
    click.option(
        "--executor",
        type=click.Choice(["local", "slurm"]),
        default="local",
        help="local: this machine, one model after another (or --parallel at once); slurm: one SLURM job per "
        "model (submitit).",
    ),
    click.option(
        "--parallel",
        type=click.IntRange(min=1),
        default=1,
        metavar="K",
        help="local: K models at once on the one device, each in a process of its own with the results it "
        "would have alone (give --threads on a CPU: K processes share its cores).",
    ),
    click.option(
        "--in-process",
        is_flag=True,
        help="With --parallel K: the K models side by side in this one process, each on a CUDA stream of its "
        "own on a GPU (their kernels overlap, where processes are time-sliced), each with the results it would "
        "have alone.",
    ),
    click.option(
        "--threads",
        type=int,
        help="torch CPU threads per model (default: local, torch's: every core; slurm, the job's CPUs). "
        "Recorded in each run (cpu_threads); CPU results differ with it.",
    ),
    click.option("--slurm-partition", help="Partition of the jobs (default: the cluster's)."),
    click.option("--slurm-account", help="Account charged for the jobs (sbatch --account)."),
    click.option("--slurm-qos", help="Quality of service (sbatch --qos)."),
    click.option("--slurm-gpus-per-job", type=int, help="GPUs per node of a job (default 0)."),
    click.option("--slurm-gres", help="Generic resources, e.g. gpu:a100:4 (sbatch --gres)."),
    click.option("--slurm-cpus-per-job", type=int, help="CPUs per task, also its threads (default 1)."),
    click.option("--slurm-mem", help="Memory per node, e.g. 32G (sbatch --mem)."),
    click.option("--slurm-constraint", help="Node features, e.g. a100 (sbatch --constraint)."),
    click.option("--slurm-exclude", help="Nodes not to use (sbatch --exclude)."),
    click.option("--slurm-nodes", type=int, help="Nodes per model (default 1); one model trains on all."),
    click.option(
        "--slurm-tasks-per-node",
        type=int,
        help="Processes per node (default 1), e.g. one per GPU: they train one model together (DDP).",
    ),
    click.option("--slurm-job-name", help="Job name (default <recipe>-<model>, one job array per model)."),
    click.option(
        "--slurm-time",
        "slurm_times",
        multiple=True,
        metavar="[MODEL=]MINUTES",
        help="Time limit per job in minutes (default 1440); MODEL=MINUTES (a name or pattern, e.g. 'AT-*=720') "
        "for some models (repeatable). A job that reaches it requeues itself.",
    ),
    click.option(
        "--slurm-setup",
        multiple=True,
        metavar="LINE",
        help="A shell line the job runs first, e.g. 'module load cuda', 'source venv/bin/activate' (repeatable).",
    ),
    click.option(
        "--slurm-srun-arg", "slurm_srun_args", multiple=True, metavar="ARG", help="An argument of srun (repeatable)."
    ),
    click.option(
        "--slurm-signal-delay",
        type=int,
        metavar="SECONDS",
        help="How long before the time limit SLURM tells a job to checkpoint and requeue (default 90).",
    ),
    click.option(
        "--slurm-max-timeouts",
        type=int,
        metavar="N",
        help="How many times one job may reach its time limit and requeue (default 3).",
    ),
    click.option(
        "--slurm-requeue/--slurm-no-requeue",
        "slurm_requeue",
        default=None,  # None: not given (a flag pair's own default is False)
        help="At the time limit or on pre-emption a job requeues itself (default); --slurm-no-requeue for "
        "clusters that forbid it: the job ends, its checkpoint kept, and reproduce again continues it.",
    ),
    click.option("--slurm-array-parallelism", type=int, help="Jobs of the array running at once (default 64)."),
    click.option(
        "--slurm-option",
        "slurm_extra",
        multiple=True,
        metavar="NAME[=VALUE]",
        help="Any other #SBATCH option, e.g. --slurm-option reservation=mine, or a flag: --slurm-option exclusive "
        "(repeatable).",
    ),
    click.option(
        "--dry-run", is_flag=True, help="slurm: print the sbatch scripts it would submit, submit nothing, and exit."
    ),
    click.option("--cancel", is_flag=True, help="slurm: cancel the grid's jobs that are queued or running, and exit."),
    click.option(
        "--wait/--no-wait",
        default=True,
        help="slurm: wait for the jobs with a progress bar, or return once they are submitted.",
    ),
    click.option("--status", is_flag=True, help="Show each model's state (done, queued, running, failed) and exit."),
)


def grid_action(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir, args, zoo_models=None) -> bool:
    """--status (the grid's state, its models trained elsewhere included: `zoo_models`, else the recipe's), else
    --dry-run (print the sbatch scripts) or --cancel (scancel the grid's jobs); True if one ran."""
    if not (args["status"] or args["dry_run"] or args["cancel"]):
        return False
    if not args["status"] and args["executor"] != "slurm":
        raise BadInput("--dry-run and --cancel are for --executor slurm")
    from sam_bench.experiments.executors import GridRef, cancel, cell_states, dry_run
    from sam_bench.recipes.recipe import load_recipe

    grid = GridRef.of(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir, zoo_models=zoo_models)
    if args["status"]:
        load_recipe(recipe, scale, data_dir, device)  # a recipe that cannot be run is refused, run or not
        if not Path(grid.out).is_dir():
            click.echo(f"nothing run yet in {out}")
            return True
        for name, state in cell_states(grid):
            click.echo(f"{name}: {state}")
        return True
    if args["cancel"]:
        cancelled = cancel(grid)
        click.echo(f"cancelled {len(cancelled)} job(s): {' '.join(cancelled)}" if cancelled else "no job to cancel")
        return True
    scripts = dry_run(grid, slurm_options(recipe, scale, args))
    if not scripts:
        click.echo("nothing to submit: every cell is done, running or queued")
    for names, script in scripts:
        click.echo(f"# ---- {', '.join(names)}: sbatch would get this script")
        click.echo(script)
    return True


def slurm_options(recipe, scale, args):
    """The SlurmOptions of the command line over the recipe's `slurm:` block."""
    time_minutes, per_model = parse_times(args["slurm_times"])
    same = ("partition", "account", "qos", "gpus_per_job", "gres", "cpus_per_job", "mem", "constraint", "exclude")
    same += ("nodes", "tasks_per_node", "job_name", "array_parallelism", "max_timeouts", "requeue")
    return SlurmOptions.from_recipe(
        recipe,
        scale,
        **{name: args[f"slurm_{name}"] for name in same},  # --slurm-<name>: the setting <name>
        time_minutes=time_minutes,
        models=per_model,
        setup=list(args["slurm_setup"]),
        srun_args=list(args["slurm_srun_args"]),
        threads=args["threads"],
        signal_delay_s=args["slurm_signal_delay"],
        extra=parse_sbatch_options(args["slurm_extra"]),
    )


def reproduce_settings(recipe, scale, args) -> dict:
    """reproduce()'s executor, slurm, wait, threads and parallel arguments from the command line (and the recipe)."""
    if args["executor"] == "local":
        ctx = click.get_current_context()
        for param in ctx.command.params:  # else a grid meant for the cluster trains here, without a word
            name = param.name or ""
            if name.startswith("slurm") and given_on_command_line(ctx, name):
                option = "/".join([*param.opts, *param.secondary_opts])
                raise BadInput(f"{option} is for --executor slurm; this grid runs locally")
        return {"threads": args["threads"], "parallel": args["parallel"], "in_process": args["in_process"]}
    if args["parallel"] != 1 or args["in_process"]:
        raise BadInput("--parallel is for the local executor (on SLURM each cell is a job of its own)")
    return {"executor": "slurm", "slurm": slurm_options(recipe, scale, args), "wait": args["wait"]}
