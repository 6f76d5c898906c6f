"""`sam-bench verify`: a results file, a board's entries or a reproduction folder measured again from the weights
they name, on a sample drawn afresh at each call (a thin skin over `sam_bench.evaluation.spot_check`); `--full`
measures every image of every evaluation again and writes a recheck record (`sam-bench recheck`)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path

import click

from sam_bench.cli.options import (
    data_dir_option,
    device_option,
    max_minutes_option,
    out_option,
    quiet_option,
    refuse_out_among,
    threads_option,
    zoo_dir_option,
)

SCHEMA = "sam-bench/verify/v1"


def _board_sources(folder: Path) -> list[tuple[Path, str | None]]:
    """(results file, the sha256 the board's figures came from) of every entry under a board folder."""
    from sam_bench import files
    from sam_bench.leaderboard.entries import results_path

    found: dict[Path, str | None] = {}
    for entry_path in sorted(folder.rglob("*.json")):
        entry = files.read_json(entry_path)
        extras = entry.get("sam_bench") if isinstance(entry, dict) else None
        if not isinstance(extras, dict) or extras.get("retired"):
            continue
        for source in extras.get("sources") or []:
            shown = source["file"]
            candidates = [results_path(shown)] + [parent / shown for parent in folder.resolve().parents]
            path = next((c for c in candidates if c.is_file()), candidates[0])
            found.setdefault(path, source.get("sha256"))
    return list(found.items())


def targets_of(target: Path, zoo_dir):
    """[(results file, weights ref or None, the sha256 a board shows or None)] and the zoo to load from: a results
    file; a reproduction folder's results (a model's own run folder where it is in no zoo; the folder's own
    model_zoo/ where it has one); or a board folder's entries' results files."""
    from sam_bench.errors import BadInput
    from sam_bench.evaluation import results_file
    from sam_bench.evaluation.results_record import Results
    from sam_bench.rundir.model import has_weights

    if target.is_file():
        return [(target, None, None)], zoo_dir
    if not target.is_dir():
        raise BadInput(f"{target}: no such results file, board or reproduction folder")
    if (target / "results").is_dir():
        if zoo_dir is None and (target / "model_zoo").is_dir():
            zoo_dir = str(target / "model_zoo")  # a scale that keeps its zoo to itself (publish: false)
        found = []
        for path in sorted((target / "results").glob("*.json")):
            results = Results(results_file.read(path), path)
            run = target / "runs" / path.stem
            own = None if results.model.zoo_id or not has_weights(run) else str(run)
            found.append((path, own, None))
        if not found:
            raise BadInput(f"{target}: no results/*.json to verify")
        return found, zoo_dir
    sources = _board_sources(target)
    if not sources:
        raise BadInput(f"{target}: neither a reproduction folder (results/) nor a board folder with entries")
    return [(path, None, sha) for path, sha in sources], zoo_dir


def _full_board(ctx, board: Path, out, **recheck) -> None:
    """Every results file a board's entries come from re-run in full (`sam-bench recheck`, with `recheck`'s
    options), its record kept at the boards' root (or `out`), and the boards rendered again so that each entry's row
    shows its last full re-run."""
    from sam_bench.cli.recheck import recheck_command
    from sam_bench.leaderboard import full_reruns
    from sam_bench.leaderboard.render import render

    paths = [p for p, _, _ in targets_of(board, recheck["zoo_dir"])[0]]
    root = full_reruns.boards_root(board)
    differing = None
    try:
        record = out or str(full_reruns.record_path(root))
        ctx.invoke(recheck_command, targets=tuple(str(p) for p in paths), out=record, report=False, **recheck)
    except SystemExit as stop:  # images differ: the board shows it all the same, then the command fails
        differing = stop
    if out is None:
        for page in render(root):
            click.echo(f"wrote {page}")
    if differing is not None:
        raise differing


def _record(path: Path, verdicts, sha256: str) -> dict:
    return {
        "results": str(path),
        "results_sha256": sha256,
        "seed": verdicts.seed,
        "partial": verdicts.partial,
        "skipped": list(verdicts.skipped),
        "evaluations": [
            {
                "evaluation": v.evaluation,
                "rerun": v.rerun,
                "replayed": v.replayed,
                "every_image": v.every_image,
                "strata": [
                    {
                        "recorded": "correct" if s.recorded_correct else "wrong",
                        "sampled": s.sampled,
                        "differing": s.differing,
                        "chance": s.chance,
                    }
                    for s in v.strata
                ],
            }
            for v in verdicts
        ],
    }


@click.command("verify", short_help="Measure results again from their weights, on a fresh sample.")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--replay",
    type=click.IntRange(min=0),
    default=None,
    metavar="SEED",
    help="Draw the samples from this check seed (printed by an earlier check) to replay its verdict "
    "[default: a fresh seed from the operating system].",
)
@click.option(
    "--full",
    is_flag=True,
    help="Measure every image of every evaluation again with its recorded chunks and seeds, and write a recheck "
    "record (sam-bench recheck).",
)
@data_dir_option
@zoo_dir_option(default="a reproduction folder's own model_zoo/ if it has one")
@device_option(default="cpu")
@threads_option("on a CPU, the count the results file records, so that the arithmetic is the same")
@max_minutes_option("no evaluation starts after it; the check is then reported PARTIAL, naming what it left out.")
@out_option("Verdicts (JSON): each file's check seed, sampled and differing images per stratum [default: none].")
@quiet_option
@click.pass_context
def verify_command(ctx, targets, replay, full, data_dir, zoo_dir, device, threads, max_minutes, out, quiet):
    """Measure each results file again from the weights it names: the clean pass on every image (on a sample of
    both strata where that would take over a minute), every attack as labelled on a sample of the images it records
    robust and of those it records fooled, drawn afresh at each call (its check seed is printed: --replay SEED draws
    the same sample). Exits 1 when any file is refused.

    TARGETS are results files, reproduction folders (their results/*.json) or board folders (the results files
    their entries' figures come from; a file that differs from the one a board shows is refused)."""
    from sam_bench import files
    from sam_bench.errors import BadInput, SamBenchError
    from sam_bench.evaluation import per_class, results_file, spot_check
    from sam_bench.evaluation.check_progress import CheckProgress
    from sam_bench.evaluation.recheck import measured_data
    from sam_bench.evaluation.results_record import Results
    from sam_bench.runtime import clock

    inputs = [Path(target) for target in targets]
    for target in targets:  # every results file a folder or board names is read too
        with contextlib.suppress(SamBenchError):
            inputs += [path for path, _, _ in targets_of(Path(target), zoo_dir)[0]]
    refuse_out_among(out, inputs)
    if full and threads is not None:
        raise BadInput("--full measures every image again with the threads each file records; leave --threads out")
    if full:
        from sam_bench.cli.recheck import recheck_command

        recheck = {"data_dir": data_dir, "zoo_dir": zoo_dir, "device": device, "quiet": quiet}
        for target in targets:
            given = Path(target)
            if given.is_file() or (given / "results").is_dir():
                ctx.invoke(recheck_command, targets=(target,), out=out, **recheck)
            else:
                _full_board(ctx, given, out, **recheck)
        return
    stop_at = clock.stop_at(max_minutes)
    checked, refused, partial = [], [], []
    for target in targets:
        found, zoo = targets_of(Path(target), zoo_dir)
        for path, weights, shown_sha in found:
            sha = files.sha256_file(path) if path.is_file() else None
            if shown_sha is not None and sha != shown_sha:
                refused.append(
                    f"{path}: missing, or not the file the board's figures came from (sha256 {shown_sha[:12]}…)"
                )
                click.echo(f"refused: {refused[-1]}", err=True)
                continue
            if not quiet:
                click.echo(f"{path}: measuring every evaluation again from its weights")
            try:
                results = Results(results_file.read(path), path)  # its per-class figures: outcomes and labels
                per_class.check(path, results, measured_data(path, results, data_dir).y_test)
                verdicts = spot_check.spot_check(
                    path,
                    seed=replay,
                    zoo_dir=zoo,
                    data_dir=data_dir,
                    device=device,
                    weights=weights,
                    threads=threads,
                    stop_at=stop_at,
                    on_evaluation=None if quiet else CheckProgress(results, click.echo).on_evaluation,
                )
            except SamBenchError as err:
                refused.append(str(err))
                click.echo(f"refused: {err}", err=True)
                continue
            click.echo(f"{path}: {spot_check.summary(verdicts)}")
            checked.append(_record(path, verdicts, str(sha)))
            if verdicts.partial:
                partial.append(str(path))
    if out:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record = {"schema": SCHEMA, "created": created, "checked": checked, "refused": refused, "partial": partial}
        files.write_json(out, record)
        click.echo(f"wrote {out}")
    if partial:
        click.echo(f"PARTIAL: the time limit cut the check of {len(partial)} file(s): {', '.join(partial)}")
    if refused:
        raise SamBenchError(f"{len(refused)} of {len(refused) + len(checked)} results files refused (above)")
