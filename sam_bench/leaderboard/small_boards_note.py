"""The line on a RobustBench board's page and table that sends its readers to the boards at the paper's small
budgets: at RobustBench's budgets (Linf 8/255, L2 0.5) every standard-trained and SAM model is at or near 0%, so
SAM's effect on robustness can only show on a small-budget board (sam_bench.leaderboard.budgets). It states the best
AutoAttack accuracy of those models on the board from its rows, so that it stays true whatever the board ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sam_bench.leaderboard import budgets
from sam_bench.leaderboard.entries import BoardEntry
from sam_bench.leaderboard.table import rows
from sam_bench.training import method_table


def _st_or_sam(method: str) -> bool:
    return method == method_table.STANDARD or method_table.is_sam_family(method)


@dataclass(frozen=True)
class SmallBoardsNote:
    """What the line says: the RobustBench board's budget, the best AutoAttack accuracy (%) of its ST and SAM
    models, and the small-budget boards it links (their folders, 'Linf-1-255')."""

    budget: str
    best_st_or_sam: float
    small_boards: tuple[str, ...]

    @property
    def text(self) -> str:
        """The line without its links."""
        return (
            f"Every ST and SAM model here is at most {self.best_st_or_sam:.2f}% under AutoAttack at {self.budget}; "
            "the boards at the paper's small budgets are where SAM's effect on robustness can show:"
        )

    def markdown(self, href: Callable[[str], str]) -> str:
        """The line in markdown, each small board linked by `href(folder)` (relative to the file it goes in)."""
        links = ", ".join(f"[{budgets.board_named(f).title}]({href(f)})" for f in self.small_boards)
        return f"{self.text} {links}."

    def links(self, dataset: str) -> list[dict]:
        """Each small board's page (beside the RobustBench board's own) and title, for the HTML page."""
        return [{"page": b.page(dataset), "title": b.title} for b in map(budgets.board_named, self.small_boards)]


def small_boards_note(board: str, models: list[BoardEntry], folders_with_page: list[str]) -> SmallBoardsNote | None:
    """The note of the board kept in folder `board` ranking `models`, given the data set's board folders that have
    a page; None on a small-budget board, where no ST or SAM model is ranked, or where no small board has a page."""
    found = budgets.board_named(board)
    if not found.robustbench:
        return None
    smalls = tuple(f for f in folders_with_page if not budgets.board_named(f).robustbench)
    accuracies = [r["autoattack_acc"] for r in rows(models, board) if _st_or_sam(r["method"])]
    if not smalls or not accuracies:
        return None
    return SmallBoardsNote(found.title, max(accuracies), smalls)
