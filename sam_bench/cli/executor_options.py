"""The command-line skin of sam_bench.experiments.executors: `reproduce --executor slurm` and its options."""

from __future__ import annotations

import click


def executor_options(command):
    """Add --executor, the --slurm-* resources, --wait/--no-wait and --status to a click command;
    they arrive as keyword arguments that `reproduce_settings` turns into reproduce()'s arguments."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(["local", "slurm"]),
            default="local",
            show_default=True,
            help="local: this process, one model after another; slurm: one SLURM job per model (submitit).",
        ),
        click.option("--slurm-partition", default=None, help="Partition of the jobs (default: the cluster's)."),
        click.option("--slurm-gpus-per-job", type=int, default=None, help="GPUs per job (default 0)."),
        click.option(
            "--slurm-cpus-per-job", type=int, default=None, help="CPUs per job, also its threads (default 1)."
        ),
        click.option(
            "--slurm-time",
            type=int,
            default=None,
            help="Time limit per job in minutes (default 1440); a job that reaches it requeues itself.",
        ),
        click.option(
            "--slurm-signal-delay",
            type=int,
            default=None,
            metavar="SECONDS",
            help="How long before the time limit SLURM tells a job to checkpoint and requeue (default 90).",
        ),
        click.option(
            "--slurm-max-timeouts",
            type=int,
            default=None,
            metavar="N",
            help="How many times one job may reach its time limit and requeue (default 3).",
        ),
        click.option(
            "--slurm-array-parallelism", type=int, default=None, help="Jobs of the array running at once (default 64)."
        ),
        click.option(
            "--slurm-option",
            "slurm_extra",
            multiple=True,
            metavar="NAME=VALUE",
            help="Any other #SBATCH option, e.g. --slurm-option account=myproj (repeatable).",
        ),
        click.option(
            "--wait/--no-wait",
            default=True,
            show_default=True,
            help="slurm: wait for the jobs with a progress bar, or return once they are submitted.",
        ),
        click.option(
            "--status", is_flag=True, help="Show each model's state (done, queued, running, failed) and exit."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def show_status(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir, args) -> bool:
    """Print the grid's state when --status was given; True if it was."""
    if not args["status"]:
        return False
    from sam_bench.experiments.executors import Grid, cell_states

    grid = Grid.of(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir)
    for name, state in cell_states(grid):
        click.echo(f"{name}: {state}")
    return True


def reproduce_settings(recipe, scale, args) -> dict:
    """reproduce()'s executor, slurm and wait arguments from the command line (and the recipe)."""
    if args["executor"] == "local":
        return {}
    from sam_bench.experiments.executors import SlurmOptions, parse_sbatch_options

    slurm = SlurmOptions.from_recipe(
        recipe,
        scale,
        partition=args["slurm_partition"],
        gpus_per_job=args["slurm_gpus_per_job"],
        cpus_per_job=args["slurm_cpus_per_job"],
        time_minutes=args["slurm_time"],
        array_parallelism=args["slurm_array_parallelism"],
        signal_delay_s=args["slurm_signal_delay"],
        max_timeouts=args["slurm_max_timeouts"],
        extra=parse_sbatch_options(args["slurm_extra"]),
    )
    return {"executor": "slurm", "slurm": slurm, "wait": args["wait"]}
