"""What a `zoo add` cut short leaves: weights without an entry (it writes the weights first, the entry second),
and the temporaries of its atomic writes. `zoo verify` names both; the next add removes them under the zoo's lock.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError

log = logging.getLogger(__name__)


def _named_by_entries(folder: Path) -> set[str]:
    """The weights files the entries of one dataset/threat-model folder name."""
    named: set[str] = set()
    for entry_path in folder.glob("*.json"):
        try:
            entry = files.read_json(entry_path)
        except SamBenchError:
            entry = None  # a damaged entry is verify's to report; its own weights are still its
        weights = entry.get("weights") if isinstance(entry, dict) else None
        file = weights.get("file") if isinstance(weights, dict) else None
        named.add(file if isinstance(file, str) else f"{entry_path.stem}.safetensors")
    return named


def find(zoo: Path, model_id: str | None = None) -> list[Path]:
    """The weights files in `zoo` that no entry names (of `model_id` only, when given)."""
    orphans = []
    for folder in sorted({p.parent for p in zoo.glob("*/*/*.safetensors")}):
        named = _named_by_entries(folder)
        pattern = f"{model_id}.safetensors" if model_id else "*.safetensors"
        orphans += [p for p in sorted(folder.glob(pattern)) if p.name not in named]
    return orphans


def describe(path: Path) -> str:
    return (
        f"orphan weights: {path} has no entry (a zoo add cut short); sam-bench zoo add RUN --id {path.stem} "
        "replaces them, or delete the file"
    )


# The temporary of an atomic write of an entry's weights or JSON (files.atomic_write: .<name>.<random>.tmp)
_ZOO_TEMPORARY = re.compile(r"\..+\.(safetensors|json)\.[^.]+" + re.escape(files.TEMPORARY_SUFFIX))


def temporaries(zoo: Path) -> list[Path]:
    """The temporaries of the zoo's own writes in `zoo`: outside a `zoo add` (which holds the zoo's lock), what
    a write cut short left."""
    return sorted(p for p in zoo.glob("*/*/.*") if files.is_temporary(p) and _ZOO_TEMPORARY.fullmatch(p.name))


def describe_temporary(path: Path) -> str:
    size = path.stat().st_size if path.exists() else 0
    return (
        f"leftover temporary file: {path} ({size / 1e6:.1f} MB) is what a write cut short left (a killed zoo add); "
        "the next zoo add removes it, or delete the file"
    )


def clear(zoo: Path, model_id: str) -> None:
    """Before an add (under the zoo's lock): the orphan weights of `model_id`, which it replaces, and the temporaries
    any add or import killed in a write left."""
    for path in find(zoo, model_id):
        path.unlink(missing_ok=True)
        log.warning("replacing %s", describe(path))
    for path in temporaries(zoo):
        path.unlink(missing_ok=True)
        log.warning("removed %s", path)
