"""Errors the CLI turns into one clear line and an exit code, never a traceback."""


class SamBenchError(Exception):
    """Something went wrong at run time (exit code 1)."""

    exit_code = 1


class BadInput(SamBenchError):
    """The user asked for something that cannot be (exit code 2, like click's usage errors)."""

    exit_code = 2


class WeightsNotHere(SamBenchError):
    """Stored weights are not on this machine and cannot be fetched (committed weights come from the git
    history, which a copy of the tree without `.git` lacks)."""
