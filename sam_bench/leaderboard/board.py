"""Leaderboards, RobustBench's format: entries written from evaluation results, ranked, rendered and checked
for submission. The leaderboard's public calls, one module per concept behind them:

    budgets      the boards: RobustBench's budgets and the paper's small ones, each ranked by standard AutoAttack
                 at its own budget (`all_boards`, `destination`: the board an evaluation's result can go on)
    entries      a results file -> model_info JSON (`update_from_results`: every figure derived from its
                 per-image outcomes, naming the file and its sha256), read back (`read_entry`, `load_board`)
    evidence     an entry recomputed from the results files it names before it is rendered or submitted
    publication  the one gate to a board (`add_all`: `leaderboard add`, `evaluate --leaderboard`, `reproduce`; its
                 check `submit` too): each file read once, measured again on a sample of its images from the
                 weights it names, its test set and the model's training record against its log
    table        a board's rows, ranked, with their columns
    render       markdown, HTML and a plot per board (`render`), the table in a markdown file's markers
    submission   the checks and the issue text for RobustBench (`submit`)

    leaderboards/<dataset>/<threat_model>/<ModelId>.json   RobustBench's model_info format, its budget
    leaderboards/<dataset>/<norm>-<k>-255/<ModelId>.json   the same format at a small budget k/255
    leaderboards/<dataset>-<board>.{md,html,png}           rendered (the folders stay upstream-clean)
"""

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
