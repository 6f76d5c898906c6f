"""A `sam-bench bench` results file as the Markdown the README and docs/benchmarks.md carry between
`<!-- bench NAME start -->` and `<!-- bench NAME end -->` (NAME: the file's name under benchmarks/, without
`.json`): rendered from the file, never typed (tests/test_bench_blocks.py compares them).

    sam-bench bench --markdown-from benchmarks/nvidia-h200.json --write-into README.md
"""

from __future__ import annotations

from pathlib import Path

from sam_bench.bench import marked_block
from sam_bench.bench.table import format_table

START, END = "<!-- bench {name} start -->", "<!-- bench {name} end -->"


def markdown(result: dict, source: str) -> str:
    """The results' tables and targets, and the file they came from."""
    return format_table(result, markdown=True) + f"\n\n(from `{source}`, written by `sam-bench bench`)"


def between(doc: Path, name: str) -> str | None:
    return marked_block.between(doc, START.format(name=name), END.format(name=name))


def write_into(doc: Path, name: str, text: str) -> None:
    """Replace the block of `name` in `doc`."""
    marked_block.replace(doc, START.format(name=name), END.format(name=name), text)
