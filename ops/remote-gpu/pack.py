"""Work that travels to and from the remote GPU machine in checked parts (packing.py): the command lines.

    python3 ops/remote-gpu/pack.py reproductions/paper-cifar10-full --out .relay-in --batch-mib 48
    python3 ops/remote-gpu/unpack.py BATCH... --into . --overwrite

Run from the checkout's root: they import sam_bench from it (the machine has no installed copy). Bad input
ends with one `Error:` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's sam_bench

import packing  # noqa: E402

from sam_bench.errors import SamBenchError  # noqa: E402


class ToolError(click.ClickException):
    """A SamBenchError as click shows it: 'Error: <one line>' and the error's exit code."""

    def __init__(self, err: SamBenchError):
        super().__init__(str(err))
        self.exit_code = err.exit_code  # type: ignore[misc]  # click's stub declares exit_code a ClassVar


@click.command("pack", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Empty or new folder for batch-1/, batch-2/, ...")
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
    help="Only files modified since FILE was, its clock tick included: what a reproduce call changed "
    "(touch FILE before it).",
)
@click.option(
    "--drop-finished-checkpoints",
    is_flag=True,
    help="Leave out checkpoint.pt of run directories whose training is complete.",
)
@click.option(
    "--drop-published-run-weights",
    is_flag=True,
    help="Leave out every run's model.safetensors but a finished later seed's (its folder's plan.json says so): "
    "the zoo keeps a first seed's weights, and a later seed's own are its only copy.",
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
    drop_published_run_weights,
    note,
):
    """Pack PATHS (files or folders: a run directory, zoo entry files, a reproduction folder, an
    evaluation's .partial state) into parts of at most --part-mib, in batches of at most
    --batch-files files and --batch-mib MiB, each batch with the manifest (sha256 of every part, of
    the whole and of every file). Bring the batches back in order; unpack.py checks and rebuilds
    them. The defaults fit the remote GPU machine's 8 files of 16 MiB per command."""
    try:
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
            drop_published_run_weights=drop_published_run_weights,
        )
    except SamBenchError as err:
        raise ToolError(err) from None
    click.echo(packed.summary())


@click.command("unpack", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    try:
        done = packing.unpack(list(sources), into, overwrite=overwrite, pack_id=pack_id)
    except SamBenchError as err:
        raise ToolError(err) from None
    manifest = done["manifest"]
    click.echo(
        f"unpacked {manifest['name']} ({manifest['id']}) into {into}: {len(done['written'])} written, "
        f"{len(done['replaced'])} replaced, {len(done['identical'])} already identical"
    )


if __name__ == "__main__":
    pack_command()
