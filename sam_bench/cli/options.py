"""The options many commands take, declared once, and the click callbacks that turn option text into values
(bad text is a usage error, one line and exit 2, never a traceback)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click
from click.core import ParameterSource

from sam_bench import threat_models
from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput

# A seed of the torch and numpy generators: torch takes 64 bits and numpy's legacy seeding 32, and the data order
# multiplies a training seed by a million; every seed sam-bench writes fits in 32 bits
SEED = click.IntRange(0, 2**32 - 1)


def given_on_command_line(ctx: click.Context, name: str) -> bool:
    """Whether the option whose argument is `name` was typed, rather than left at its default."""
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def existing_zoo(ctx, param, value):
    """--zoo-dir of a command that reads the zoo: a folder not there is a mistyped path, not an empty zoo."""
    if value is not None and not Path(value).is_dir():
        why = "is a file, not a zoo folder" if Path(value).exists() else "no such folder"
        raise click.BadParameter(f"{value}: {why}")
    return remembered_zoo(ctx, param, value)


def remembered_zoo(ctx, param, value):
    """click callback of --zoo-dir: a folder typed on the command line is remembered as the zoo the user named last
    (sam_bench.zoo.folders: where RobustBench's `load_model` looks for it); $SAM_BENCH_ZOO needs no remembering."""
    if value is not None and given_on_command_line(ctx, param.name):
        from sam_bench.zoo import folders

        folders.remember(value)
    return value


def eps_option(ctx, param, value):
    """click callback: '8/255' -> '8/255', '0.031' -> '0.031'; bad text -> usage error."""
    return None if value is None else _parsed(lambda text: format_eps(parse_eps(text)), value)


def arch_kwargs_option(ctx, param, value):
    """click callback: --arch-kwargs text -> dict (sam_bench.models.parse_kwargs); bad text -> usage error."""
    from sam_bench.models import parse_kwargs

    return _parsed(parse_kwargs, value)


def _parsed(parse, value):
    try:
        return parse(value)
    except BadInput as err:
        raise click.BadParameter(str(err)) from None


def names_option(ctx, param, value):
    """click callback of a comma-separated list of names (--only, --attacks), None when not given. Naming nothing
    ("" or ",") is refused: no names means every one, and `--only ""` must not run the whole grid."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise BadInput(f"{param.opts[0]} {value!r} names nothing; give NAME[,NAME...], or leave the option out for all")
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise BadInput(f"{param.opts[0]} {value!r} names {twice} twice; name each once")
    return names


# The options many commands take, each a SharedOption: tests/test_config_once.py checks that every command's
# --device, --data-dir, --quiet, --out, --max-minutes and --zoo-dir come from here, with the same help.


class SharedOption(click.Option):
    """An option declared once in this module and taken by several commands."""


DEVICE_HELP = "auto, cpu, cuda or cuda:N"
DATA_DIR_HELP = "Where the data set is: a folder with <dataset>.npz or torchvision's folders, or an .npz file."
QUIET_HELP = "No progress bars or progress lines."
MAX_MINUTES_HELP = "Finish before this many minutes (> 0) after the command started"


def device_option(default: str = "auto", note: str = ""):
    """--device (runtime.provenance.resolve_device); cpu by default where results are compared across machines."""
    return click.option(
        "--device", cls=SharedOption, default=default, help=f"{DEVICE_HELP}{': ' + note if note else ''}."
    )


def threads_option(default_words: str):
    """--threads N: torch's intra-op CPU threads for the command (`set_threads`); on a busy 2-core machine torch's
    default, every core, made attacks 30-90x slower than one thread. `default_words`: what it is left out."""
    return click.option(
        "--threads",
        cls=SharedOption,
        type=click.IntRange(min=1),
        help=f"torch's CPU threads (intra-op) [default: {default_words}]; on a busy machine 1 can be many times "
        "faster.",
    )


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for the rest of the command (recorded with its results as `cpu_threads`)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


data_dir_option = click.option("--data-dir", cls=SharedOption, default=None, help=DATA_DIR_HELP)
quiet_option = click.option("--quiet", cls=SharedOption, is_flag=True, help=QUIET_HELP)


ZOO_DIR_HELP = "The model zoo folder [default: $SAM_BENCH_ZOO, else the project's model_zoo/]"


def zoo_dir_option(reads: bool = True, default: str = ""):
    """--zoo-dir (its default is the zoo's own: sam_bench.zoo.store.default_zoo_dir). `reads`: a folder that is not
    there is refused (`zoo add` and `reproduce` make it); `default`: the command's own, before those (recheck's)."""
    help = ZOO_DIR_HELP.replace("[default: ", f"[default: {default}, else " if default else "[default: ")
    return click.option(
        "--zoo-dir",
        cls=SharedOption,
        envvar=None if default else "SAM_BENCH_ZOO",  # with a default of its own, the zoo resolves it after that
        callback=existing_zoo if reads else remembered_zoo,
        help=f"{help}.",
    )


# A threat model on the command line, in any case (linf, L2, LINF): handed on as RobustBench writes it; every threat
# model a zoo entry or a board may have.
THREAT_MODEL = click.Choice(threat_models.names(), case_sensitive=False)


def refuse_out_among(out, inputs) -> None:
    """--out never names a file the command reads (a link to it included): written over, that input would be lost
    (`verify X --out X` replaced the results file with its verdicts)."""
    if out is None:
        return
    target = Path(out).resolve()
    for given in inputs:
        path = Path(given).resolve()
        if path == target or (path.is_file() and target.is_file() and os.path.samefile(path, target)):
            raise BadInput(f"--out {out} names {given}, which this command reads; write its output elsewhere")


def out_option(help: str, **kwargs):
    return click.option("--out", cls=SharedOption, help=help, **kwargs)


def check_max_minutes(ctx, param, value):
    """click callback of --max-minutes: a finite number of minutes > 0, or None (no limit)."""
    if value is not None and not 0 < value < math.inf:
        raise BadInput(f"--max-minutes must be a number of minutes > 0, got {value}")
    return value


def max_minutes_option(detail: str):
    """--max-minutes (sam_bench.runtime.clock.stop_at); `detail`: what the command does to finish in time."""
    return click.option(
        "--max-minutes", cls=SharedOption, type=float, callback=check_max_minutes, help=f"{MAX_MINUTES_HELP}: {detail}"
    )


def stacked(*options):
    """One decorator of several click options, in --help in the order given."""

    def add(command):
        for option in reversed(options):
            command = option(command)
        return command

    return add
