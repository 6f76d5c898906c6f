"""`sam-bench zoo ...` and `sam-bench leaderboard ...`: thin skins over sam_bench.zoo and sam_bench.leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sam_bench.cli.options import (
    THREAT_MODEL,
    data_dir_option,
    device_option,
    names_option,
    out_option,
    stacked,
    zoo_dir_option,
)
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import evaluators

leaderboard_dir_option = click.option(
    "--leaderboard-dir",
    envvar="SAM_BENCH_LEADERBOARDS",
    show_envvar=True,
    help="Leaderboards folder (default: leaderboards/).",
)
with_paper_options = stacked(
    click.option("--name", help="Paper or model title shown on the leaderboard."),
    click.option("--link", help="URL of the paper or report."),
    click.option("--authors", help="Authors, comma separated."),
    click.option("--venue", help="Venue, e.g. 'arXiv, Mar 2025' (default N/A)."),
)


def _paper(given: dict) -> dict:
    """The paper options given (`with_paper_options`), taken out of a command's keyword arguments."""
    return {k: v for k in ("name", "link", "authors", "venue") if (v := given.pop(k)) is not None}


def precision_option(more: str):
    """--precision of the weights an entry stores (`zoo add`, `zoo import`); `more`: the rest of its help."""
    return click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "fp16"]),
        default="auto",
        help=f"Stored weights; auto: fp16 above 2 MB{more}",
    )


@click.group("zoo", short_help="Add, list and verify model-zoo entries (RobustBench-loadable).")
def zoo_group():
    """The model zoo: model_zoo/<dataset>/<threat_model>/<ModelId>.safetensors + .json."""


@zoo_group.command("add")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--id", "model_id", help="RobustBench-style id <Author><Year><Keyword>_<variant> (default: made from the recipe)."
)
@click.option(
    "--threat-model",
    type=THREAT_MODEL,
    help="Leaderboard to rank it in (default: the training attack's norm for AT, else Linf).",
)
@precision_option(". Numbers are always measured on the stored copy.")
@click.option("--url", help="Where the weights are also hosted (fetched when the file is absent).")
@with_paper_options
@zoo_dir_option(reads=False)  # zoo add makes the folder
def zoo_add(run_dir, **given):
    """Copy a finished run's weights and metadata into the zoo."""
    from sam_bench.zoo import store as zoo

    entry = zoo.add(run_dir, paper=_paper(given), **given)
    w = entry.weights
    click.echo(
        f"added {entry.id} ({entry.dataset}/{entry.threat_model}, {entry.architecture}, "
        f"{w.dtype}, {w.bytes / 1e6:.1f} MB, sha256 {w.sha256[:12]})"
    )


@zoo_group.command("list")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100"]), help="Only this data set's entries.")
@click.option("--threat-model", type=THREAT_MODEL, help="Only this threat model's entries.")
@click.option("--json", "as_json", is_flag=True, help="The entries as JSON.")
@zoo_dir_option()
def zoo_list(dataset, threat_model, as_json, zoo_dir):
    """List the zoo's entries."""
    from sam_bench.zoo import store as zoo

    entries = zoo.list_entries(dataset, threat_model, zoo_dir)
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        click.echo("the zoo is empty" if not (dataset or threat_model) else "no entries match")
        return
    width = max(len(e.id) for e in entries)
    for e in entries:
        test_acc = (e.training or {}).get("final", {}).get("test_acc")
        trained = f"{'trained elsewhere on' if e.is_trained_elsewhere else 'trained on'} {e.trained_on}"
        acc = f", test acc {test_acc:.2%}" if test_acc is not None else ""
        shown = f"{e.id:<{width}}  {e.dataset:<8} {e.threat_model:<4} {e.architecture:<28} {e.method:<8}"
        click.echo(f"{shown} {trained}{acc}")


@zoo_group.command("verify")
@click.argument("model_id", required=False)
@click.option(
    "--runs",
    "folders",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Instead: check, for every results file of this reproduction folder (repeatable), the weights it "
    "names: the run's own (in the tree or kept in git: `zoo keep`) or the zoo entry made from them.",
)
@zoo_dir_option()
def zoo_verify(model_id, folders, zoo_dir):
    """Check the sha256 of every weights file (or one) against its entry."""
    from sam_bench.zoo import runs
    from sam_bench.zoo import store as zoo

    if folders and model_id:
        raise BadInput("give a model id or --runs, not both")
    report = (
        [row for f in folders for row in runs.verify(Path(f), zoo_dir)] if folders else zoo.verify(model_id, zoo_dir)
    )
    for mid, ok, message in report:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {mid}: {message}")
    failed = sum(not ok for _, ok, _ in report)
    what = "results files" if folders else "entries"
    if failed:
        raise SamBenchError(f"{failed} of {len(report)} {what} failed verification")
    click.echo(f"{len(report)} {what} verified" if report else ("no results files" if folders else "the zoo is empty"))


@zoo_group.command("keep")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--from",
    "restored_from",
    type=click.Path(file_okay=False),
    help="A reproduction folder where runs whose weights were lost were trained again: a run without "
    "weights takes that folder's run of the same name when its weights have exactly the recorded sha256 "
    "(and says whether that run's results have the recorded per-image outcomes).",
)
def zoo_keep(folders, restored_from):
    """Keep every finished run's weights of these reproduction folders in git, as the zoo keeps its own:
    write weights.json (sha256, git blob id) beside each run's metadata. Then commit the runs'
    model.safetensors once, with their weights.json, and remove the weights files in the next commit:
    the runs load from the git history from then on (`zoo verify --runs FOLDER` checks every results file)."""
    from sam_bench.evaluation.recheck import restored_outcomes
    from sam_bench.zoo import runs

    for folder in folders:
        if restored_from:
            for run_dir in runs.restore_folder(Path(folder), Path(restored_from)):
                results = Path("results") / f"{run_dir.name}.json"
                click.echo(
                    f"restored {run_dir} from {restored_from} (the same sha256); "
                    + restored_outcomes(Path(folder) / results, Path(restored_from) / results)
                )
        kept = runs.keep_folder(Path(folder))
        for run_dir, record in kept:
            click.echo(
                f"kept {run_dir}: {record['sha256'][:12]} "
                f"(git blob {record['git_blob'][:12]}, {record['bytes']:,} bytes)"
            )
        click.echo(f"{folder}: {len(kept)} runs' weights kept")


@click.group("leaderboard", short_help="Write, render and submit RobustBench-format leaderboards.")
def leaderboard_group():
    """RobustBench leaderboards: leaderboards/<dataset>/<threat_model>/<ModelId>.json, rendered."""


@leaderboard_group.command("add")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@leaderboard_dir_option
@zoo_dir_option()
@data_dir_option
@device_option(default="cpu", note="where the sample of each evaluation is measured again")
def leaderboard_add(results, leaderboard_dir, zoo_dir, data_dir, device):
    """Write leaderboard entries from results files of `sam-bench evaluate` (what --leaderboard does), once a
    seeded sample of each file's every evaluation, measured again from the weights it names, agrees with it and
    the model's training record agrees with its log: every file before any entry is written (one refused, none
    written); then render the boards whose entries changed. A results file goes on every board whose AutoAttack
    it holds: RobustBench's (Linf 8/255, L2 0.5) and the paper's small budgets."""
    from sam_bench.leaderboard.board import render
    from sam_bench.leaderboard.own_boards import BOARDS
    from sam_bench.leaderboard.publication import add_all

    changed: dict[str, None] = {}
    for done in add_all(results, leaderboard_dir, zoo_dir, data_dir=data_dir, device=device, progress=click.echo):
        click.echo(f"wrote {done.entry}" if done.changed else f"unchanged {done.entry}: {done.results} adds nothing")
        if done.changed:
            changed[done.entry.parent.name] = None
    for own in BOARDS.values():  # a kind's own boards, rendered by its board module
        if any(folder in own.FOLDERS for folder in changed):
            for page in own.render(leaderboard_dir):
                click.echo(f"rendered {page}")
            changed = {folder: None for folder in changed if folder not in own.FOLDERS}
    if changed:
        try:
            pages = render(leaderboard_dir, folders=list(changed))
        except SamBenchError as err:  # the entries stand; a board whose other evidence fails says why, unrendered
            click.echo(f"entries written, boards not rendered: {err}", err=True)
            return
        for page in pages:
            click.echo(f"rendered {page}")


@leaderboard_group.command("render")
@click.option(
    "--dataset",
    type=click.Choice(["cifar10", "cifar100"]),
    help="Only this data set's boards [default: every board there is].",
)
@click.option(
    "--threat-model", type=THREAT_MODEL, help="Only this threat model's boards [default: every board there is]."
)
@click.option(
    "--readme",
    type=click.Path(dir_okay=False),
    help="Also replace the table between '<!-- sam-bench leaderboard cifar10/Linf start -->' and "
    "'... end -->' in this file.",
)
@leaderboard_dir_option
def leaderboard_render(dataset, threat_model, readme, leaderboard_dir):
    """Write markdown, a standalone sortable HTML page and a clean-vs-robust plot per leaderboard."""
    from sam_bench.leaderboard.board import render
    from sam_bench.leaderboard.entries import boards
    from sam_bench.leaderboard.own_boards import BOARDS, own_board

    asked = own_board(threat_model)
    rendered = [asked] if asked is not None else [] if threat_model is not None else list(BOARDS.values())
    rendered = [own for own in rendered if threat_model is not None or own.boards(leaderboard_dir)]
    for own in rendered:  # a threat model's own boards, rendered by its board module
        for page in own.render(leaderboard_dir, dataset):
            click.echo(f"wrote {page}")
    if rendered and (threat_model is not None or not boards(leaderboard_dir, dataset)):  # no eps board has entries
        return
    _say_rendered(render(leaderboard_dir, dataset, threat_model, readme), readme)


def _say_rendered(paths, readme=None) -> None:
    """What `render` wrote; where no board has a row left to rank, that it wrote no page and why."""
    for path in paths:
        click.echo(f"wrote {path}")
    if not [path for path in paths if readme is None or path != Path(readme)]:
        click.echo("no board page written: every entry is retired, so no board has a row to rank (old pages removed)")


@leaderboard_group.command("retire")
@click.argument("model_ids", nargs=-1, required=True)
@click.option("--note", required=True, help="Why the rows leave the board, shown under its table.")
@click.option(
    "--replaced-by", metavar="IDS", callback=names_option, help="Comma-separated model ids that replace them."
)
@click.option("--render/--no-render", default=True, help="Render the boards afterwards.")
@leaderboard_dir_option
def leaderboard_retire(model_ids, note, replaced_by, render, leaderboard_dir):
    """Take models off the leaderboards with a note (their entries, results and weights stay): the
    boards list them under the table instead of ranking them."""
    from sam_bench.leaderboard import board, retire

    root = board.boards_dir(leaderboard_dir)
    for path in retire.retire(list(model_ids), note, root, replaced_by):
        click.echo(f"retired {path}")
    if render:
        _say_rendered(board.render(leaderboard_dir))


@leaderboard_group.command("submit")
@click.argument("model_id")
@click.option(
    "--threat-model",
    type=THREAT_MODEL,
    help="; ".join(
        ["The board to send [default: the zoo entry's threat model's]"]
        + [e.submit_words for e in evaluators.EVALUATORS.values() if e.submit_words]
    )
    + ".",
)
@out_option("Folder for the files (default: submissions/<ModelId>/).")
@with_paper_options
@leaderboard_dir_option
@zoo_dir_option()
@data_dir_option
@device_option(default="cpu", note="where the sample of each evaluation is measured again")
def leaderboard_submit(model_id, out, **given):
    """Check an entry against RobustBench's rules and its evidence against the weights (a seeded sample of
    every evaluation measured again); write its model_info JSON and the filled-in issue, or, for a threat model
    with boards of its own, what its board module writes for RobustBench (--threat-model's help says what)."""
    from sam_bench.leaderboard.board import submit

    written = submit(model_id, out_dir=out, paper=_paper(given), progress=click.echo, **given)
    for path in written:
        click.echo(f"wrote {path}")
    if written[-1].suffix == ".md":  # the issue to open
        click.echo("\n" + written[-1].read_text())
