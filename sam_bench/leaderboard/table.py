"""A board's rows: its entries ranked, with the columns a reader compares (each column attack's, PGD, at every
budget the board's models carry, intervals, training and evaluation in words). A board is named by its folder ('Linf',
'Linf-2-255': sam_bench.leaderboard.budgets)."""

from __future__ import annotations

from sam_bench.eps import parse_eps
from sam_bench.leaderboard.budgets import board_named
from sam_bench.leaderboard.entries import AutoAttackFigures, BoardEntry
from sam_bench.stats import inference
from sam_bench.training import method_table


def _training_text(m: BoardEntry) -> str:
    """'seed 0, 8 ep., 7.6 min on cpu, 1 pass/step': the training seed of the weights ranked (where the render's
    evidence check found one), then the run's cost."""
    cost, seconds = m.training_cost, m.training_cost.get("wall_time_s")
    said = [] if m.seed is None else [f"seed {m.seed}"]
    if seconds:
        took = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
        took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else took
        device = (cost.get("device_name") or cost.get("device") or "").split(" (")[0]
        passes = cost.get("passes_per_step")
        said.append(f"{cost.get('epochs')} ep., {took} on {device}, {passes} pass{'' if passes == 1 else 'es'}/step")
    return ", ".join(said)


def _eval_text(m: BoardEntry) -> str:
    aa = m.autoattack
    if aa is None:
        return ""
    total = f" of {aa.n_test_total:,}" if aa.n_test_total else ""
    version = "" if aa.version == "standard" else f", AutoAttack {aa.version_text}"
    # a column attack may run on more images than AutoAttack (cpu-decisive: PGD on 2,000 and 1,000) or in a lower
    # precision: its columns' intervals say so
    said = ""
    for attack in dict.fromkeys(f.attack for f in m.figures):
        mine = [f for f in m.figures if f.attack == attack]
        n = sorted({f.n_examples for f in mine if f.n_examples} - {aa.n_examples})
        said += f"; {attack.display} on {', '.join(f'{k:,}' for k in n)}" if n else ""
        low = sorted({f.precision for f in mine if f.precision != "fp32"})
        said += f"; {attack.display} in {', '.join(low)}" if low else ""
    return f"{aa.n_examples:,}{total} ({aa.test_set}{version}; {_math_text(aa)}){said}"


def _math_text(aa: AutoAttackFigures) -> str:
    """The precision the figures were scored in and, on a GPU, the math the attack searched in: 'fp32',
    'fp32, search in TF32' (on a CPU TF32 does not exist, so the search was fp32 whatever it recorded)."""
    on_gpu = not (aa.device_name or "cpu").startswith("cpu")
    return aa.precision + (f", search in {'TF32' if aa.search_math == 'tf32' else 'fp32'}" if on_gpu else "")


def columns(models: list[BoardEntry], board: str) -> list[tuple]:
    """The column attacks' columns (ColumnFigure.column), the board's own norm first."""
    norm = board_named(board).norm
    keys = {f.column for m in models for f in m.figures}
    return sorted(keys, key=lambda k: (k[1] != norm, k[1], k[0].name, parse_eps(k[2]), k[3] or 0))


def column_header(column: tuple) -> str:
    """'PGD-10 Linf 2/255': a column's attack, its steps where recorded, norm and budget."""
    attack, norm, eps, steps = column
    return f"{attack.display}-{steps} {norm} {eps}" if steps else f"{attack.display} {norm} {eps}"


def _ci(accuracy_percent, n) -> tuple[float, float] | None:
    """95% Wilson interval (percent) of a leaderboard accuracy, from the number of images behind it."""
    if accuracy_percent is None or not n:
        return None
    low, high = inference.wilson(round(float(accuracy_percent) / 100 * n), n)
    return 100 * low, 100 * high


def rows(models: list[BoardEntry], board: str) -> list[dict]:
    """Display values per model, in rank order (the shared input of markdown and HTML)."""
    shown = columns(models, board)
    out = []
    for rank, m in enumerate(models, 1):
        aa_n = m.autoattack.n_examples if m.autoattack else None
        figures = {f.column: f for f in reversed(m.figures)}  # a column's first figure, where two differ in restarts
        # its method's paper (none for ST), never the entry's `link` (RobustBench's: what a submission names)
        paper = method_table.TABLE[m.method].paper if m.method in method_table.TABLE else None
        out.append(
            {
                "rank": rank,
                "model_id": m.model_id,
                "name": m.name,
                "link": paper.url if paper else "",
                "cite": paper.cite if paper else "",
                "footnote": m.footnote,
                "clean_acc": float(m.clean_acc),
                "autoattack_acc": float(m.autoattack_acc),
                "additional_data": m.additional_data,  # True, False or None (unknown)
                "architecture": m.architecture,
                "venue": m.venue or "Unpublished",
                "method": m.method,
                "training": _training_text(m),
                "training_s": m.training_cost.get("wall_time_s") or 0,
                "evaluated_on": _eval_text(m) + "".join(f"; {text}" for text in (m.full_rerun, m.checked_for) if text),
                "degenerate": m.degenerate,
                "collapsed": m.collapsed,
                "trained_elsewhere": bool(m.trained_elsewhere),
                "columns": [float(f.robust_acc) if (f := figures.get(k)) else None for k in shown],
                "clean_ci": _ci(m.clean_acc, aa_n),
                "autoattack_ci": _ci(m.autoattack_acc, aa_n),
                "columns_ci": [_ci(f.robust_acc, f.n_examples) if (f := figures.get(k)) else None for k in shown],
            }
        )
    return out
