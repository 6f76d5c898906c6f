"""A block of rendered Markdown between two marker comments in a document (README.md, docs/benchmarks.md):
read to compare it with its rendering, or replaced by it, the rest of the document untouched."""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput


def between(doc: Path, start: str, end: str) -> str | None:
    """The text between the markers in a document (without the newlines next to them), or None without them."""
    return in_text(files.read_text(doc), start, end)


def in_text(text: str, start: str, end: str) -> str | None:
    """As `between`, in a document's text."""
    found = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return found.group(1) if found else None


def replace(doc: Path, start: str, end: str, text: str) -> None:
    """Put `text` between the markers (atomically: the document is whole, new or as it was)."""
    body = files.read_text(doc)
    old = re.search(re.escape(start) + ".*?" + re.escape(end), body, re.S)
    if old is None:
        raise BadInput(f"{doc} has no {start} ... {end} markers")
    files.write_text(doc, body.replace(old.group(0), f"{start}\n{text}\n{end}"))
