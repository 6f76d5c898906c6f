"""How far a spot check checks an entry's figures, said in its row where that is not to a point: an entry whose
results file was recorded before per-image draws is checked by the rules that fit it, which refuse only larger
changes (sam_bench/evaluation/check_statement.py: "checked for changes of >= 56 points (PGD), ..."). The text is
kept on the loaded entry and appended to the row's evaluation text (table.rows)."""

from __future__ import annotations

from dataclasses import replace

from sam_bench.evaluation import check_statement
from sam_bench.evaluation.recheck import label
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.leaderboard.budgets import board_named
from sam_bench.leaderboard.entries import BoardEntry


def shown(m: BoardEntry, board: str) -> list[tuple[str, int | None]]:
    """(evaluation, the smallest change a check of it refuses) of each figure the entry's row shows (clean, AutoAttack,
    each column attack's) that comes from a file recorded before per-image draws."""
    found, aa, b = [], m.autoattack, board_named(board)
    if aa:
        settings = {"version": aa.version, "attacks": aa.attacks}
        ev = Evaluation.of(
            {"attack": "autoattack", "robust_acc": 0.0, "norm": b.norm, "eps": b.eps, "settings": settings}
        )
        changes = check_statement.refused_changes(aa.results_sha256) or {}
        found += [(name, changes[name]) for name in ("clean", label(ev)) if name in changes]
    for f in m.figures:
        name = f"{f.attack.name} {f.norm} {f.eps}"  # as the spot check names it (recheck.label)
        changes = check_statement.refused_changes(f.results_sha256) or {}
        if name in changes:
            found.append((name, changes[name]))
    return found


def annotate(models: list[BoardEntry], board: str) -> list[BoardEntry]:
    """The entries, each whose figures a check refuses only for changes larger than a point with that in words."""
    texts = [check_statement.words(check_statement.worst(shown(m, board))) for m in models]
    return [replace(m, checked_for=text) if text else m for m, text in zip(models, texts)]
