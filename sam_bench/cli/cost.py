"""`sam-bench cost`: the cost measurement behind claim C4, for a reproduction folder (experiments.step_cost)."""

from __future__ import annotations

import click

from sam_bench.cli.options import device_option, names_option


@click.command("cost", short_help="Time every model of a reproduction interleaved in one process (C4): cost.json.")
@click.argument("folder")
@click.option(
    "--rounds",
    type=int,
    default=10,
    help="Rounds; each times every model once, in a rotating order (6 or more: a 95% interval).",
)
@click.option("--steps", type=int, default=2, help="Training steps per model per round.")
@click.option("--warmup", type=int, default=1, help="Untimed steps per model first.")
@click.option("--threads", type=int, default=1, help="CPU threads (as the cpu scales train).")
@device_option(default="cpu", note="where the grid trained")
@click.option(
    "--only",
    metavar="NAMES",
    callback=names_option,
    help="Comma-separated model names (each architecture's ST is added).",
)
@click.option("--report/--no-report", default=True, help="Rewrite REPORT.md afterwards.")
def cost_command(folder, report, **options):
    """Time one training step of every model of the reproduction in FOLDER (its first seeds'
    settings from plan.json), interleaved in one process, and write FOLDER/cost.json: each model's
    median seconds per step and its ratio to ST's, with 95% intervals. C4 rests on it."""
    from sam_bench.experiments.step_cost import measure

    click.echo(f"wrote {measure(folder, log=lambda message: click.echo(message, err=True), **options)}")
    if report:
        from sam_bench.report.document import write_report

        click.echo(f"wrote {write_report(folder)}")
