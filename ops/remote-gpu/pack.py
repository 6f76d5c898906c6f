"""`sam-bench pack` and `sam-bench unpack`: thin skins over sam_bench.pack."""

from __future__ import annotations

import click

from sam_bench import pack as packing
from sam_bench.cli.options import out_option


@click.command("pack", short_help="Cut runs, zoo entries or reproductions into checked parts that travel.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@out_option("Empty or new folder for batch-1/, batch-2/, ...", required=True, type=click.Path())
@click.option("--name", default=None, help="Name in the part files (default: the first path's first folder).")
@click.option(
    "--root",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Paths are stored relative to this folder, and unpacked relative to --into.",
)
@click.option(
    "--part-mib", type=float, default=packing.DEFAULT_PART_MIB, show_default=True, help="Largest part, in MiB."
)
@click.option(
    "--batch-files",
    type=int,
    default=packing.DEFAULT_BATCH_FILES,
    show_default=True,
    help="Most files per batch, the manifest's copy included.",
)
@click.option(
    "--batch-mib", type=float, default=packing.DEFAULT_BATCH_MIB, show_default=True, help="Most MiB per batch."
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files whose path (relative to --root) matches, e.g. '*/checkpoint.pt'; repeatable.",
)
@click.option(
    "--newer-than",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Only files modified since FILE was, its clock tick included: what a stint of work changed "
    "(touch FILE before it).",
)
@click.option(
    "--drop-finished-checkpoints",
    is_flag=True,
    help="Leave out checkpoint.pt of run directories whose training is complete.",
)
@click.option(
    "--finished-runs-only",
    is_flag=True,
    help="Leave out every file of run directories whose training is not complete (a pack made while it trains).",
)
@click.option("--note", default=None, help="A line kept in the manifest (what this is, where it ran).")
def pack_command(
    paths,
    out,
    name,
    root,
    part_mib,
    batch_files,
    batch_mib,
    exclude,
    newer_than,
    drop_finished_checkpoints,
    finished_runs_only,
    note,
):
    """Pack PATHS (files or folders: a run directory, zoo entry files, a reproduction folder, an
    evaluation's .partial state) into parts of at most --part-mib, in batches of at most
    --batch-files files and --batch-mib MiB, each batch with the manifest (sha256 of every part, of
    the whole and of every file). Bring the batches back in order; `sam-bench unpack` checks and
    rebuilds them. The defaults fit a lent GPU machine's 8 files of 16 MiB per command."""
    packed = packing.pack(
        list(paths),
        out,
        name=name,
        root=root,
        part_mib=part_mib,
        batch_files=batch_files,
        batch_mib=batch_mib,
        exclude=list(exclude),
        note=note,
        newer_than=newer_than,
        drop_finished_checkpoints=drop_finished_checkpoints,
        finished_runs_only=finished_runs_only,
    )
    click.echo(packed.summary())


@click.command("unpack", short_help="Check and rebuild what `sam-bench pack` cut into parts.")
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option(
    "--into",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder the packed paths are relative to (pack's --root).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing files whose content differs.")
@click.option("--id", "pack_id", default=None, help="Which pack, where the sources hold several.")
def unpack_command(sources, into, overwrite, pack_id):
    """Unpack the pack whose batches are in SOURCES (batch folders, the folder holding them, or a
    manifest). Every part's and file's sha256 is checked first: a missing, altered or foreign part
    stops it with one line and nothing is written."""
    done = packing.unpack(list(sources), into, overwrite=overwrite, pack_id=pack_id)
    manifest = done["manifest"]
    click.echo(
        f"unpacked {manifest['name']} ({manifest['id']}) into {into}: {len(done['written'])} written, "
        f"{len(done['replaced'])} replaced, {len(done['identical'])} already identical"
    )
