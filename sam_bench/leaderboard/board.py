"""Leaderboards, RobustBench's format: entries written from evaluation results, ranked, rendered and checked
for submission. The leaderboard's public calls, imported from the modules behind them (what each module is for:
sam_bench/leaderboard/README.md; the boards' folders and pages: budgets.py)."""

from sam_bench.leaderboard.budgets import Board, all_boards, destination
from sam_bench.leaderboard.entries import (
    MODEL_INFO_KEYS,
    boards_dir,
    default_leaderboard_dir,
    interval,
    load_board,
    model_info,
    percent,
    read_entry,
    update_from_results,
)
from sam_bench.leaderboard.publication import add
from sam_bench.leaderboard.render import html, markdown, render, scatter_png, update_readme
from sam_bench.leaderboard.submission import check_submission, issue_text, submit
from sam_bench.leaderboard.table import rows

__all__ = [
    "MODEL_INFO_KEYS",
    "Board",
    "all_boards",
    "destination",
    "add",
    "boards_dir",
    "check_submission",
    "default_leaderboard_dir",
    "html",
    "interval",
    "issue_text",
    "load_board",
    "markdown",
    "model_info",
    "percent",
    "read_entry",
    "render",
    "rows",
    "scatter_png",
    "submit",
    "update_from_results",
    "update_readme",
]
