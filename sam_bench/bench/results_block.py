"""A `sam-bench bench` results file as the Markdown the README and docs/benchmarks.md carry between
`<!-- bench NAME start -->` and `<!-- bench NAME end -->` (NAME: the file's name under benchmarks/, without
`.json`): rendered from the file, never typed (tests/test_bench_blocks.py compares them).

    sam-bench bench --markdown-from benchmarks/nvidia-h200.json --write-into README.md
"""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.bench.table import format_table
from sam_bench.errors import BadInput

START, END = "<!-- bench {name} start -->", "<!-- bench {name} end -->"


def markdown(result: dict, source: str) -> str:
    """The results' tables and targets, and the file they came from."""
    return format_table(result, markdown=True) + f"\n\n(from `{source}`, written by `sam-bench bench`)"


def names_in(doc: Path) -> list[str]:
    """The results files `doc` carries blocks of."""
    return re.findall(r"<!-- bench (\S+) start -->", doc.read_text())


def between(doc: Path, name: str) -> str | None:
    found = re.search(
        re.escape(START.format(name=name)) + r"\n(.*?)\n" + re.escape(END.format(name=name)), doc.read_text(), re.S
    )
    return found.group(1) if found else None


def write_into(doc: Path, name: str, text: str) -> None:
    """Replace the block of `name` in `doc` (atomically: the file is whole or as it was)."""
    start, end = START.format(name=name), END.format(name=name)
    body = doc.read_text()
    old = re.search(re.escape(start) + ".*?" + re.escape(end), body, re.S)
    if old is None:
        raise BadInput(f"{doc} has no {start} ... {end} markers")
    files.write_text(doc, body.replace(old.group(0), f"{start}\n{text}\n{end}"))
