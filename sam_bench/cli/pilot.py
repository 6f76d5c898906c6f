"""`sam-bench pilot`: seed-to-seed spread and detectable effects of candidate settings (report.pilot)."""

from __future__ import annotations

import click

from sam_bench.cli.options import out_option


@click.command("pilot", short_help="Size a reproduction: seed spread and detectable effects per candidate.")
@click.argument("folders", nargs=-1, required=True)
@out_option("Folder for pilot.json and PILOT.md (e.g. the chosen reproduction's).", required=True)
@click.option("--first", default="ST", help="The reference model of each candidate.")
@click.option("--second", default="SAM-0.1", help="The model compared with it.")
@click.option(
    "--measure",
    "measures",
    multiple=True,
    help="'clean' or e.g. 'pgd Linf 2/255' (repeatable; default: clean and pgd Linf 2/255).",
)
@click.option("--plan-seeds", type=int, default=5, help="Seeds per model of the planned grid.")
@click.option(
    "--require-clean",
    type=float,
    default=0.80,
    help="Clean accuracy on the whole test set the first model must reach (mean over seeds).",
)
def pilot_command(folders, out, measures, **options):
    """Compare candidate settings, each a reproduction folder (FOLDERS) holding a few seeds of two models:
    their seed-to-seed sd, the smallest effect the planned grid could detect, their cost; choose the
    cheapest that reaches --require-clean. Writes OUT/pilot.json and OUT/PILOT.md."""
    from sam_bench.report.pilot import run_pilot

    click.echo(f"wrote {run_pilot(list(folders), out, measures=list(measures) or None, **options)}")
