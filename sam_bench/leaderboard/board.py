"""Leaderboards, RobustBench's format: entries written from evaluation results, ranked, rendered and checked
for submission. The leaderboard's public calls, imported from the modules behind them (what each module is for:
sam_bench/leaderboard/README.md; the boards' folders and pages: budgets.py)."""

from sam_bench.leaderboard.entries import (
    MODEL_INFO_KEYS,
    boards_dir,
    load_board,
    model_info,
    percent,
    read_entry,
    write_entries,
)
from sam_bench.leaderboard.render import markdown, render
from sam_bench.leaderboard.submission import submit
from sam_bench.leaderboard.table import rows

__all__ = [
    "MODEL_INFO_KEYS",
    "boards_dir",
    "load_board",
    "markdown",
    "model_info",
    "percent",
    "read_entry",
    "render",
    "rows",
    "submit",
    "write_entries",
]
