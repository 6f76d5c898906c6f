"""`sam-bench reproduce` (a recipe's grid end to end) and `sam-bench report` (its report rewritten from the results)."""

from __future__ import annotations

from pathlib import Path

import click

from sam_bench.cli.executor_options import executor_options, grid_action, reproduce_settings
from sam_bench.cli.options import (
    data_dir_option,
    device_option,
    max_minutes_option,
    names_option,
    out_option,
    quiet_option,
    zoo_dir_option,
)
from sam_bench.errors import SamBenchError
from sam_bench.runtime import clock


class ScaleOption(click.Option):
    """--scale, its help listing the shipped recipes' scales, read from their YAML only when the help is shown (no
    torch: `reproduce --help` stays quick)."""

    def get_help_record(self, ctx):
        from importlib.resources import files

        import yaml

        recipes = files("sam_bench") / "recipes"  # the folder, without importing its package
        shipped = sorted((path for path in recipes.iterdir() if path.name.endswith(".yaml")), key=lambda p: p.name)
        listed = "; ".join(
            f"{path.name.removesuffix('.yaml')}: {', '.join(yaml.safe_load(path.read_text())['scales'])}"
            for path in shipped
        )
        self.help = f"A scale of the recipe (its `scales`). The shipped recipes' scales: {listed}."
        return super().get_help_record(ctx)


@click.command("reproduce", short_help="Run a recipe's grid: train, zoo, evaluate, leaderboard, report.")
@click.argument("recipe")
@click.option("--scale", cls=ScaleOption, required=True, metavar="SCALE")
@data_dir_option
@out_option(
    "Reproduction folder (default reproductions/<recipe>-<scale> under the working directory; a folder the "
    "sam-bench project committed is written only when named here or with --update-committed)."
)
@click.option(
    "--update-committed",
    is_flag=True,
    help="Write to the clone's own committed reproductions/<recipe>-<scale> (the project's evidence), from any "
    "working directory.",
)
@device_option(default="auto")
@zoo_dir_option(reads=False)
@click.option("--leaderboard-dir", help="Leaderboards to write (default: the project's leaderboards/).")
@click.option(
    "--no-leaderboard",
    "no_leaderboard",
    is_flag=True,
    help="Put nothing on a board: train, evaluate and report only (the publication gate's re-measurement, which "
    "can take longer than the evaluation, is left to a later `leaderboard add`).",
)
@click.option(
    "--no-extensions",
    "no_extensions",
    is_flag=True,
    help="Leave the recipe's extension tests unmeasured: a later call without it measures them from the trained "
    "runs' weights (forward passes only, which a CPU can do).",
)
@max_minutes_option("what is done is saved (resumable): the same command continues.")
@click.option(
    "--only",
    metavar="NAMES",
    callback=names_option,
    help="Work on these models of the grid only (comma-separated: NAME for all its seeds, NAME:SEED for "
    "one); the report covers every run with results. Runs with disjoint --only can share one grid.",
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="torch.compile every model's training (GPU; also the recipe's train key `compile: true`).",
)
@click.option(
    "--zoo-model",
    "zoo_models",
    multiple=True,
    metavar="ID",
    help="A zoo model trained elsewhere to evaluate beside the grid (repeatable; replaces the recipe's `zoo` list).",
)
@quiet_option
@executor_options
def reproduce(
    recipe,
    scale,
    data_dir,
    out,
    update_committed,
    device,
    zoo_dir,
    leaderboard_dir,
    no_leaderboard,
    no_extensions,
    max_minutes,
    only,
    compile_,
    zoo_models,
    quiet,
    **executor_args,
):
    """Train, evaluate, register and report a recipe's grid (e.g. paper-cifar10 --scale smoke).

    RECIPE is a recipe shipped with sam-bench (paper-cifar10, paper-cifar100, lightweight-cifar10,
    arch-sweep-cifar10, robustbench-small-budgets) or a YAML file.
    Interrupted work resumes and finished work is skipped when the same command runs again."""
    from sam_bench.experiments.reproduce import artifacts
    from sam_bench.experiments.reproduce import reproduce as run

    out = _folder(recipe, scale, out, update_committed, executor_args["status"])
    if out is None:
        return
    given = list(zoo_models) or None  # in place of the recipe's `zoo` list
    if grid_action(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir, executor_args, given):
        return  # it said what it did
    try:
        complete, report = run(
            recipe,
            scale,
            data_dir=data_dir,
            out=out,
            device=device,
            zoo_dir=zoo_dir,
            leaderboard_dir=leaderboard_dir,
            stop_at=clock.stop_at(max_minutes),
            progress=not quiet,
            only=only,
            compile=compile_ or None,
            zoo_models=given,
            leaderboard=not no_leaderboard,
            extensions=not no_extensions,
            **reproduce_settings(recipe, scale, executor_args),
        )
    except KeyboardInterrupt:
        raise SamBenchError(
            "interrupted; finished epochs and evaluation chunks are kept: run the same command to continue"
        ) from None
    if not complete:
        click.echo(f"stopped (run the same command again to continue): report so far in {report}")
        return
    found = artifacts(Path(report).parent, zoo_dir, leaderboard_dir)
    click.echo(f"done: report in {report}")
    for what in ("plots", "zoo", "leaderboard pages"):
        if found[what]:
            click.echo(f"  {what + ':':<18} " + "\n  {:<18} ".format("").join(str(p) for p in found[what]))
    click.echo("the paper's claims, as this grid judged them (the report says how):")
    for line in claim_lines(Path(report).parent):
        click.echo(f"  {line}")


def claim_lines(folder) -> list[str]:
    """The report's verdict on each claim, one line each (per architecture where the grid has several)."""
    from sam_bench.report.claims import headline
    from sam_bench.report.folder import Folder

    by_arch = Folder.load(folder).verdicts
    return [
        (f"{arch}: " if len(by_arch) > 1 else "") + line for arch, found in by_arch.items() for line in headline(found)
    ]


def _folder(recipe, scale, out, update_committed, status) -> str | None:
    """The reproduction folder, resolved once for every action; None where --status has said that the user has not
    run the scale (its default folder is the project's committed evidence, whose runs are not the user's)."""
    from sam_bench.experiments import destination
    from sam_bench.recipes.recipe import load_recipe

    if out is not None and not update_committed:
        return out
    name = load_recipe(recipe, scale).name
    default = destination.default_folder(name, scale)
    if status and not update_committed and destination.is_committed(default):
        click.echo(
            f"you have not run {name} at scale {scale} here: {default} is the sam-bench project's committed "
            f"evidence, not your runs (its state: --status --update-committed; yours: --status --out DIR)"
        )
        return None
    return str(destination.reproduction_folder(name, scale, out, update_committed))


@click.command("report", short_help="Rewrite a reproduction's REPORT.md and plots from its results.")
@click.argument("folder")
@click.option(
    "--readme",
    multiple=True,
    metavar="FILE",
    help="Also rewrite, in this file, the folder's summary (between '<!-- sam-bench summary <folder> start -->' "
    "and '... end -->') and the findings of the paper's grid over the reproductions beside the folder (between "
    "'<!-- sam-bench findings start -->' and '... end -->'), whichever it holds (repeatable).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="First measure a seeded sample of every evaluation the report shows again from the weights its results "
    "file names, and refuse a file that disagrees with them (seconds a small model, a minute or two a full-width "
    "one, on a CPU).",
)
@zoo_dir_option(default="a reproduction folder's own model_zoo/ if it has one")
@data_dir_option
@device_option(default="cpu", note="where --verify measures")
@max_minutes_option(
    "with --verify, no evaluation's check starts after it; the report and the output then name the evaluations "
    "left unmeasured (PARTIAL)."
)
def report(folder, readme, verify, zoo_dir, data_dir, device, max_minutes):
    """Rewrite REPORT.md and the plots of a reproduction folder from its results files."""
    from sam_bench.report import findings, summary
    from sam_bench.report.document import write_report
    from sam_bench.report.folder import Folder

    for path in readme:  # a file it could fill nothing in is refused before the report is rewritten
        if not findings.holds_markers(path):
            summary.check_readme(path, folder)
    loaded = Folder.load(folder)  # read, checked and judged once for the report and its summary
    unmeasured = _verify(loaded, zoo_dir, data_dir, device, clock.stop_at(max_minutes)) if verify else []
    click.echo(f"wrote {write_report(folder, loaded, measured_again=verify, unmeasured=unmeasured)}")
    if unmeasured:
        click.echo(f"PARTIAL: the time limit left {len(unmeasured)} evaluations unmeasured: {', '.join(unmeasured)}")
    for path in readme:
        if summary.has_markers(path, folder):
            click.echo(f"wrote {summary.update_readme(path, loaded)}")
        if findings.update_readme(path, Path(folder).resolve().parent):
            click.echo(f"wrote the findings in {path}")


def _verify(loaded, zoo_dir, data_dir, device, stop_at=None) -> list[str]:
    """Every results file a report shows checked against the weights it names on its sample (evaluation.spot_check),
    as the gate of `leaderboard add` checks it; the evaluations a time limit (`stop_at`) left unmeasured."""
    from sam_bench.evaluation import results_file
    from sam_bench.evaluation.pinned import pin
    from sam_bench.evaluation.results_record import derived
    from sam_bench.evaluation.spot_check import spot_check, summary
    from sam_bench.rundir.model import has_weights

    if zoo_dir is None and (loaded.path / "model_zoo").is_dir():
        zoo_dir = str(loaded.path / "model_zoo")  # a scale that keeps its zoo to itself (publish: false)
    unmeasured: list[str] = []
    for record in loaded.records:
        run = loaded.path / "runs" / f"{record.name}-{record.key}"
        own = None if record.results.model.zoo_id or not has_weights(run) else str(run)
        assert record.path is not None, "a folder's records name their results files"
        shown = record.path.relative_to(loaded.path)
        pinned = pin(record.path)
        if derived(pinned.json()) != dict(record.results):
            raise SamBenchError(f"{shown}: changed while the report was being written; run the report again")
        results_file.check_known_test_set(record.results.dataset.name, record.results.dataset.sha256, str(shown))
        click.echo(f"{shown}: measuring a sample of every evaluation again from its weights")
        with pinned.private_copy() as copy:
            verdicts = spot_check(copy, zoo_dir=zoo_dir, data_dir=data_dir, device=device, weights=own, stop_at=stop_at)
        click.echo(f"{shown}: {summary(verdicts)}")
        unmeasured += [f"{shown}: {name}" for name in verdicts.skipped]
    return unmeasured
