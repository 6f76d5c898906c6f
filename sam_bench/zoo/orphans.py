"""What a `zoo add` cut short leaves: weights without an entry, and the temporaries of its atomic writes.

`zoo add` writes `<id>.safetensors` first and `<id>.json` second (each atomically), so that an entry
never names weights that are not there. A process killed between the two leaves weights that no
entry names: `zoo verify` reports them ("orphan weights: ..."), and `zoo add` with the same id
replaces them (under the zoo's lock, so they cannot be another add's, half done) instead of taking
the id for used. A process killed during a write leaves that write's temporary (`.<id>.safetensors.<random>.tmp`,
the whole weights' size): `zoo verify` names it, and the next `zoo add` or `zoo import` of any id removes it (under
the lock too).
"""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError


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


def remove(zoo: Path, model_id: str) -> list[Path]:
    """Delete the orphan weights of `model_id` before it is added again; returns what was deleted."""
    gone = find(zoo, model_id)
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


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


def remove_temporaries(zoo: Path) -> list[Path]:
    """Delete what writes cut short left, before an add writes its own (under the zoo's lock); what was deleted."""
    gone = temporaries(zoo)
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
