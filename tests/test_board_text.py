"""Text from files anyone can edit (a model's name, description, venue, architecture, a retired row's note, a
results file's device) is shown as text on every board format: no HTML, link or broken table in the markdown, no
markup in the HTML page."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sam_bench.leaderboard import render, retire
from sam_bench.leaderboard.board_text import markdown
from sam_bench.leaderboard.entries import BoardEntry, load_board

ATTACKS = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "[click](javascript:alert(1))"]
HOSTILE = " ".join(ATTACKS) + " | a cell\nand a line & \\| more"


@pytest.fixture
def hostile_board() -> list[BoardEntry]:
    first, *others = load_board("cifar10", "Linf-2-255")
    assert first.autoattack is not None
    aa = replace(first.autoattack, device_name=HOSTILE)
    return [replace(first, name=HOSTILE, venue=HOSTILE, architecture=HOSTILE, autoattack=aa), *others]


def cells(line: str) -> int:
    """The table cells of a markdown row: separators after an even run of backslashes (none escapes them)."""
    count = 0
    for i, c in enumerate(line):
        run = len(line[:i]) - len(line[:i].rstrip("\\"))
        count += c == "|" and run % 2 == 0
    return count


def test_the_markdown_board_shows_hostile_text_as_text(hostile_board):
    table = render.markdown("cifar10", "Linf-2-255", hostile_board)
    for attack in ("<img", "<script", "](javascript"):
        assert attack not in table
    assert "&lt;img src=x onerror=alert(1)&gt;" in table and "[click]\\(javascript:alert(1))" in table
    lines = table.splitlines()
    header, rows = lines[2], [line for line in lines if line.startswith("| ") and line != lines[2]]
    assert len(rows) == len(hostile_board)  # the line break did not cut the row
    assert {cells(row) for row in rows} == {cells(header)}  # nor did the '|'


def test_the_html_page_escapes_it(hostile_board):
    page = render.html("cifar10", "Linf-2-255", hostile_board)
    for attack in ("<img src=x", "<script>alert"):
        assert attack not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_retired_row_s_note_is_text_too(hostile_board):
    retired = replace(hostile_board[0], retired={"note": HOSTILE, "date": "2026-01-01", "replaced_by": []})
    lines = retire.markdown_lines([retired])
    assert not any(attack in line for line in lines for attack in ("<img", "<script", "](javascript"))
    assert len(lines) == 4  # its one line


def test_plain_text_is_left_as_it_is():
    text = "ResNet18c8-ST (arch-sweep-cifar10, cpu scale) resnet18 (channels=[8, 16, 32, 64], stem_type=deep)"
    assert markdown(text) == text
