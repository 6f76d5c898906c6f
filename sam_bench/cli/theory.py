"""`sam-bench theory`: the paper's linear model of robust and non-robust features, simulated (analysis.theory)."""

from __future__ import annotations

import click

from sam_bench.cli.options import out_option, quiet_option


@click.command("theory", short_help="The paper's explanation in a linear model: SAM and AT as feature perturbations.")
@click.argument("spec", required=False, metavar="[SPEC.yaml]")
@out_option("Folder for results.json, REPORT.md and the plots.", default="reproductions/theory-linear")
@quiet_option
def theory_command(spec, out, quiet):
    """Train linear classifiers by ST, SAM (rho grid) and AT (Linf and L2 eps grids) on Gaussian data with
    a few robust and many non-robust features; report their feature weights, exact clean and robust
    accuracy, the rho <-> eps correspondence and a verdict on each of the paper's theoretical statements.

    SPEC.yaml overrides any of the defaults (sam_bench/analysis/theory/default.yaml); unknown keys are
    refused. Deterministic under the spec's seed; seconds on a CPU. See docs/theory.md."""
    from sam_bench.analysis.theory import run

    results, paths = run(spec, out=out, progress=not quiet)
    verdicts = results["statements"]
    reproduced = sum(s["reproduced"] for s in verdicts)
    click.echo(
        f"{len(results['runs'])} classifiers x {results['spec']['repetitions']} repetitions in "
        f"{results['seconds']:.1f} s; {reproduced} of {len(verdicts)} statements reproduced:"
    )
    for statement in verdicts:
        click.echo(f"  {'yes' if statement['reproduced'] else 'no ':<3}  {statement['id']}")
    click.echo(f"done: report in {paths['report']}")
    click.echo(f"  results: {paths['results']}")
    click.echo(f"  plots:   {paths['reliance']}, {paths['tradeoff']}")
