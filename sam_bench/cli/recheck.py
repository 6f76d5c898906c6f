"""`sam-bench recheck`: results evaluated again from the weights they name, image by image (evaluation.recheck)."""

from __future__ import annotations

from pathlib import Path

import click

from sam_bench.cli.options import data_dir_option, device_option, names_option, out_option, quiet_option, zoo_dir_option


@click.command("recheck", short_help="Re-measure results from their stored weights, image by image.")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--n-examples",
    type=int,
    help="Recheck the first N images only (a multiple of the recorded chunk size) [default: all evaluated].",
)
@click.option(
    "--attacks",
    metavar="NAMES",
    callback=names_option,
    help="Comma-separated attacks to recheck: clean, pgd, autoattack [default: every one recorded].",
)
@data_dir_option
@zoo_dir_option(default="a reproduction folder's own model_zoo/ if it has one")
@device_option(default="cpu")
@out_option("Recheck record (JSON) [default: FOLDER/recheck.json for one reproduction folder; none for files].")
@click.option("--report/--no-report", default=True, help="Rewrite the folder's REPORT.md after.")
@click.option(
    "--again", is_flag=True, help="Recheck results the record already covers as they are (default: skip them)."
)
@quiet_option
def recheck_command(targets, n_examples, attacks, data_dir, zoo_dir, device, out, report, quiet, again):
    """Load the weights each results file names (zoo entries are checked against their sha256; committed
    weights come from the git history), evaluate them again with the recorded attacks, settings, chunks,
    batches and CPU threads, and compare which images each attack left correct.

    TARGETS are results files, or reproduction folders: a folder's results of the models in the zoo,
    the ones whose weights are committed. Exits 1 when any image differs."""
    from sam_bench import files
    from sam_bench.errors import BadInput
    from sam_bench.evaluation import recheck

    folders = [Path(t) for t in targets if Path(t).is_dir()]
    if len(folders) > 1 or (folders and len(targets) > 1):
        raise BadInput("give one reproduction folder, or results files")
    folder = folders[0] if folders else None
    if folder is not None:
        paths, not_recheckable = recheck.published_results(folder)
        for p in not_recheckable:
            click.echo(f"{p}: not rechecked: {recheck.NO_OUTCOMES}", err=True)
        if not paths:
            raise BadInput(f"{folder}: no results of a model in the zoo to recheck")
        if zoo_dir is None and (folder / "model_zoo").is_dir():
            zoo_dir = str(folder / "model_zoo")  # a scale that keeps its zoo to itself (publish: false)
        out = out or str(folder / "recheck.json")
    else:
        paths = [Path(t) for t in targets]
        for p in paths:
            if not p.is_file():
                raise BadInput(f"{p}: no such results file or reproduction folder")
    names = recheck.checked_attacks(attacks)  # before a rechecked file is skipped as done: foo is no attack

    # a recheck of some files keeps the record's others
    previous = recheck.read(out)["models"] if out and Path(out).is_file() else []
    done = []

    def save_record():
        if out:  # after each model: an interrupted recheck keeps what it finished
            others = [m for m in previous if m["results"] not in {d["results"] for d in done}]
            files.write_json(out, recheck.record(others + done))

    for path in paths:
        name = path.relative_to(folder).as_posix() if folder is not None else str(path)
        earlier = next((m for m in previous if m["results"] == name), None)
        if not again and recheck.already_done(earlier, path, n_examples, names):
            click.echo(f"{name}: already rechecked as it is now ({out}); --again to recheck it anyway")
            done.append(earlier)
            continue
        carried = recheck.carried_over(folder, path, n_examples, names) if folder is not None and not again else None
        if carried:
            click.echo(
                f"{name}: the same file was rechecked where it was reused from ({carried['carried_from']}); "
                "--again to recheck it here"
            )
            done.append(carried)
            save_record()
            continue
        checked = recheck.recheck_file(
            path,
            zoo_dir=zoo_dir,
            data_dir=data_dir,
            n_examples=n_examples,
            attacks=names,
            device=device,
            progress=not quiet,
        )
        checked["results"] = name
        if n_examples is not None and checked["n_examples"] < n_examples:
            click.echo(
                f"{name}: {checked['n_examples']} images were evaluated, fewer than --n-examples {n_examples}: "
                f"rechecked those {checked['n_examples']}"
            )
        done.append(recheck.merged(earlier, checked, path))
        for c in checked["evaluations"]:
            verdict = "identical" if c["images_differing"] == 0 else f"{c['images_differing']} images differ"
            click.echo(
                f"{checked['model']}: {c['evaluation']}: {c['recorded_correct']} of {c['n']} correct as recorded, "
                f"{c['remeasured_correct']} re-measured: {verdict}"
            )
        save_record()
    if out:
        click.echo(f"wrote {out}")
    if folder is not None and report:
        from sam_bench.report.document import write_report

        click.echo(f"wrote {write_report(folder)}")
    differing = sum(c["images_differing"] for d in done for c in d["evaluations"])  # skipped ones included
    if differing:
        click.echo(f"{differing} image outcomes differ from the recorded ones", err=True)
        raise SystemExit(1)
