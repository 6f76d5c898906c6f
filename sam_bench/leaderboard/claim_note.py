"""The line under a board at one of the paper's small budgets: what its rows rest on, and where the paper's claim at
that budget is judged.

Each row of such a board is one trained model: the training seed of its weights (its Training column) on the test
images of its Evaluated on column, mostly a reproduction's first seed on a few hundred images. The paper's claim C2
compares SAM with ST at these budgets over seeds and images (sam_bench.leaderboard.budgets reads the budgets from
the claims), and the README's findings, rendered from the reproductions, give its confirmatory result. Two rows can
sit level where the claim holds over seeds, or part where it fails: the line says why both are true and links the
findings, relative to the file it goes in.
"""

from __future__ import annotations

import os
from pathlib import Path

from sam_bench.leaderboard import budgets
from sam_bench.leaderboard.entries import CHECKOUT

README = CHECKOUT / "README.md"
FINDINGS = "what-is-found-so-far"  # the anchor of the README's findings (its heading "What is found so far")
TEXT = (
    "Each row is one trained model: the seed its weights were trained with is in its Training column, the test "
    "images it was evaluated on in Evaluated on. A row says what those weights do on those images, not what their "
    "method does over seeds. The paper's claim C2 compares SAM with ST at this budget over seeds and images; its "
    "confirmatory result and every scale's verdict are in"
)
LINK_TEXT = "the README's findings"


def applies(board: str, sample: bool) -> bool:
    """Whether the board in folder `board` carries the line: a small-budget board's real page (not the sample's)."""
    return not sample and not budgets.board_named(board).robustbench


def link(target: str | os.PathLike, seen_from: str | os.PathLike) -> str:
    """`target` as a link from `seen_from` (the file the link goes in, or its folder)."""
    where = Path(seen_from).resolve()
    where = where if where.is_dir() else where.parent
    return Path(os.path.relpath(Path(target).resolve(), where)).as_posix()


def href(seen_from: str | os.PathLike) -> str:
    """The README's findings, relative to `seen_from`."""
    return link(README, seen_from) + f"#{FINDINGS}"


def markdown(seen_from: str | os.PathLike) -> str:
    """The line in markdown, its link relative to `seen_from`."""
    return f"{TEXT} [{LINK_TEXT}]({href(seen_from)})."
