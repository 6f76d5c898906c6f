"""`sam-bench`: the click group over one module per command or command group (README.md lists them); imported by
nothing but `python -m sam_bench` and the console script."""

from __future__ import annotations

import errno
import signal
import sys

import click

from sam_bench.cli.analyze import analyze_command
from sam_bench.cli.bench import bench_command
from sam_bench.cli.cost import cost_command
from sam_bench.cli.evaluate import evaluate_command
from sam_bench.cli.pilot import pilot_command
from sam_bench.cli.recheck import recheck_command
from sam_bench.cli.reproduce import report, reproduce
from sam_bench.cli.theory import theory_command
from sam_bench.cli.train import train
from sam_bench.cli.verify import verify_command
from sam_bench.cli.zoo import leaderboard_group, zoo_group
from sam_bench.cli.zoo_import import zoo_import  # noqa: F401  (`zoo import`, on the zoo group)
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.version import __version__


class CliError(click.ClickException):
    """A SamBenchError as click shows it: 'Error: <one line>' and its exit code."""

    def __init__(self, err: SamBenchError):
        super().__init__(str(err))
        # ours differs per error, so it is set per instance
        self.exit_code = err.exit_code  # type: ignore[misc]  # click's stub declares exit_code a ClassVar


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SamBenchError as err:
            raise CliError(err) from None
        except OSError as err:  # a name given (a model id, a path) longer than any file system takes
            if err.errno != errno.ENAMETOOLONG:
                raise
            raise CliError(too_long(err)) from None


def too_long(err: OSError) -> BadInput:
    name = str(err.filename or "")
    shown = name if len(name) <= 80 else f"{name[:60]}... ({len(name)} characters)"
    return BadInput(f"{shown}: name too long for the file system (a file or folder name is at most 255 bytes)")


# Every option with a default shows it in --help (a flag's False and a None default show nothing).
@click.group(
    cls=Group,
    commands=[
        train,
        reproduce,
        report,
        evaluate_command,
        zoo_group,
        leaderboard_group,
        bench_command,
        cost_command,
        pilot_command,
        recheck_command,
        verify_command,
        theory_command,
        analyze_command,
    ],  # one module each
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100, "show_default": True},
)
@click.version_option(__version__, prog_name="sam-bench")
def cli():
    """Train, attack and rank standard, SAM and adversarially trained models (RobustBench-compatible)."""


def _terminated(signum, frame):
    # SIGTERM (kill, a scheduler, torchrun stopping its workers) ends a command the way Ctrl-C does:
    # the command says what is kept and how to continue, instead of dying without a word.
    global _TERMINATED
    _TERMINATED = True
    raise KeyboardInterrupt


_TERMINATED = False


def main():
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # leave a handler someone else installed alone
        signal.signal(signal.SIGTERM, _terminated)
    try:
        cli(prog_name="sam-bench")
    except SystemExit:
        if _TERMINATED:  # 128 + SIGTERM, what a shell reports for a terminated process
            raise SystemExit(128 + signal.SIGTERM) from None
        raise


if __name__ == "__main__":
    sys.exit(main())
