"""Which folders are the user's zoo when no folder is named (RobustBench's `load_model`,
`register_with_robustbench()`): `SAM_BENCH_ZOO` alone where set, else ./model_zoo, the zoo named last and the
project's own, in that order (docs/zoo.md, "RobustBench")."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.rundir import blobs

log = logging.getLogger(__name__)

ENV = "SAM_BENCH_ZOO"
HERE = "model_zoo"
PROJECT_ZOO = Path(__file__).resolve().parents[2] / HERE  # the checkout's own
HOW_TO_POINT = (  # in a few words for a one-line error
    f"point sam-bench at your zoo: {ENV}=DIR, or sam_bench.register_with_robustbench(DIR) before load_model, "
    f"or run from the folder that holds {HERE}/"
)


def memory_file() -> Path:
    """Where the zoo named last is remembered: beside the weights cache ($SAM_BENCH_CACHE, ~/.cache/sam-bench)."""
    return blobs.cache_dir().parent / "last-zoo-dir"


def remember(zoo_dir) -> None:
    """Remember `zoo_dir` as the zoo the user named last; a cache that cannot be written costs a warning only."""
    where = Path(zoo_dir).expanduser().resolve()
    try:
        if files.read_text(memory_file()).strip() == str(where):
            return
    except (OSError, SamBenchError):
        pass
    try:
        files.write_text(memory_file(), f"{where}\n")
    except (OSError, SamBenchError) as err:
        log.warning("the zoo named last is not remembered (%s)", err)


def last() -> Path | None:
    """The zoo the user named last, if it is remembered and still a folder."""
    try:
        named = Path(files.read_text(memory_file()).strip())
    except (OSError, SamBenchError):
        return None
    return named if named.is_dir() else None


def users_zoos() -> list[Path]:
    """The folders a zoo is looked for in when none is named, in order, each once."""
    if os.environ.get(ENV):
        return [Path(os.environ[ENV])]
    found: list[Path] = []
    for candidate in (Path.cwd() / HERE, last(), PROJECT_ZOO):
        if candidate is not None and candidate.is_dir() and candidate.resolve() not in [f.resolve() for f in found]:
            found.append(candidate)
    return found
