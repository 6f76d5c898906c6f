"""A zoo id: RobustBench's scheme, and one that no other model has, in any case (docs/zoo.md, "Model ids": why
`zoo add` refuses a file-like, over-long, RobustBench-taken or case-only-different id)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sam_bench import compat
from sam_bench.errors import BadInput

# RobustBench's ids: <Author><Year><Keyword> (no underscore), then optional _<variant> parts.
ID_PATTERN = re.compile(r"[A-Z][A-Za-z-]*[0-9]{4}[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9][A-Za-z0-9.-]*)*")
ID_AUTHOR = "SamBench"
ROBUSTBENCH_ID_PREFIX = "sam-bench:"  # our marker in RobustBench's `gdrive_id` field
FILE_SUFFIXES = (".json", ".safetensors", ".pt", ".pth", ".ckpt", ".bin")
MAX_ID_LENGTH = 128  # RobustBench's longest are under 60; the rest of 255 bytes is for what names add to it


def check_id(model_id: str) -> None:
    """The id's form: RobustBench's scheme, short enough for the names of its files, and no file name."""
    if len(model_id) > MAX_ID_LENGTH:
        raise BadInput(
            f"invalid model id {model_id!r}: {len(model_id)} characters, at most {MAX_ID_LENGTH} (the files "
            "named after it must fit the file system's 255 bytes); give a shorter --id"
        )
    if not ID_PATTERN.fullmatch(model_id):
        raise BadInput(
            f"invalid model id {model_id!r}: use RobustBench's scheme <Author><Year><Keyword>_<variant>, "
            "e.g. SamBench2025SAM_PRN18_rho0.1 (no underscore before the variant; letters, digits, "
            "'-' and '.' in the variant)"
        )
    suffix = next((s for s in FILE_SUFFIXES if model_id.lower().endswith(s)), None)
    if suffix:
        raise BadInput(
            f"invalid model id {model_id!r}: it ends like a file name ({suffix}); the zoo adds .json and "
            f".safetensors itself: give the id without {suffix}"
        )


def same_in_any_case(model_id: str, ids: Iterable[str]) -> str | None:
    """The first of `ids` that is `model_id` up to case (itself first), or None."""
    ids = list(ids)
    if model_id in ids:
        return model_id
    return next((other for other in ids if other.lower() == model_id.lower()), None)


def check_free(model_id: str, entries: Iterable[str]) -> None:
    """Refuse an id that an entry of the zoo (`entries`: their ids) or RobustBench's list already has,
    in any case."""
    taken = same_in_any_case(model_id, entries)
    if taken == model_id:
        raise BadInput(f"model id {model_id} is already taken in the zoo; choose another --id")
    if taken:
        raise BadInput(
            f"model id {model_id} differs from the zoo's {taken} only in case (one file on macOS and Windows); "
            "choose another --id"
        )
    theirs = robustbench_ids()
    taken = same_in_any_case(model_id, theirs) if theirs is not None else None
    if taken:
        raise BadInput(
            f"model id {model_id} is RobustBench's {taken}: robustbench.load_model would load theirs under it; "
            "choose another --id (ours start with the author, e.g. SamBench2026SAM_...)"
        )


def robustbench_ids() -> list[str] | None:
    """The ids of RobustBench's own models (ours registered into its lists left out), or None where
    robustbench is not installed."""
    models = compat.robustbench_models()
    if models is None:
        return None
    return [
        model_id
        for model_id, info in models.items()
        if not str(info.get("gdrive_id", "")).startswith(ROBUSTBENCH_ID_PREFIX)
    ]
