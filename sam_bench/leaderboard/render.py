"""A board rendered: a markdown table, a standalone sortable HTML page and a clean-vs-robust plot,
`leaderboards/<dataset>-<board folder>.{md,html,png}` (the folders stay upstream-clean; a board's folder is
'Linf' for RobustBench's Linf 8/255, 'Linf-2-255' for Linf 2/255: sam_bench.leaderboard.budgets), and the table
between a markdown file's markers (`leaderboard render --readme FILE`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

from sam_bench import figure_labels, files
from sam_bench.errors import BadInput
from sam_bench.leaderboard import budgets, checked_for, claim_note, evidence, full_reruns, retire
from sam_bench.leaderboard.board_text import markdown as _text
from sam_bench.leaderboard.board_text import page_template
from sam_bench.leaderboard.entries import BoardEntry, boards, boards_dir, load_board
from sam_bench.leaderboard.small_boards_note import SmallBoardsNote, small_boards_note
from sam_bench.leaderboard.table import column_header, columns, rows
from sam_bench.training import method_table
from sam_bench.version import __version__

_README_MARK = "<!-- sam-bench leaderboard {board} {edge} -->"


def ranked_by(models: list[BoardEntry]) -> str:
    """What a board's AutoAttack column holds, from its rows: 'AutoAttack (standard)', or every version its rows
    were scored with (the sample's page also ranks a quicker version, and each row names its own)."""
    versions = sorted({m.autoattack.version_text if m.autoattack else "standard" for m in models})
    if versions == ["standard"]:
        return "AutoAttack (standard)"
    return f"AutoAttack ({' or '.join(versions)}: each row names its version)"


def markdown(dataset: str, board: str, models: list[BoardEntry], title: str | None = None) -> str:
    """A board's table (`board`: its folder, 'Linf' or 'Linf-2-255')."""
    found = budgets.board_named(board)
    threat_model, eps = found.norm, found.eps
    shown = columns(models, board)
    head = [
        "#",
        "Model ID",
        "Model",
        "Clean accuracy",
        f"AutoAttack ({threat_model} {eps})",
        *map(column_header, shown),
        "Architecture",
        "Training",
        "Evaluated on",
        "Venue",
    ]
    title = title or (
        f"**{dataset}, {threat_model}, eps = {eps}** (ranked by AutoAttack robust accuracy, the standard version"
        + (")." if found.robustbench else "; one of the paper's small budgets, not a RobustBench board).")
    )
    title += " Accuracies with their 95% Wilson interval over the test images evaluated."
    lines = [
        title,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join([":---:"] + ["---"] * 2 + [":---:"] * (2 + len(shown)) + ["---"] * 4) + "|",
    ]
    for r in rows(models, board):
        name = _text(r["name"]) + (f" ([{_text(r['cite'])}]({r['link']}))" if r["link"] else "")
        if r["degenerate"]:
            name += f" ⚠ degenerate: {_text(r['degenerate'])}"
        if r["collapsed"]:
            name += f" ⚠ collapsed: {_text(r['collapsed'])}"
        if r["trained_elsewhere"]:
            name += " (trained elsewhere)"
        cells = [
            str(r["rank"]),
            f"**{r['model_id']}**",
            name,
            _with_ci(r["clean_acc"], r["clean_ci"]),
            _with_ci(r["autoattack_acc"], r["autoattack_ci"]),
            *["" if v is None else _with_ci(v, ci) for v, ci in zip(r["columns"], r["columns_ci"])],
            _text(r["architecture"]),
            _text(r["training"]),
            _text(r["evaluated_on"]),
            _text(r["venue"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _with_ci(value: float, ci: tuple[float, float] | None) -> str:
    return f"{value:.2f}%" + (f" ({ci[0]:.1f}–{ci[1]:.1f})" if ci else "")


ELSEWHERE_MARKER = "^"  # models trained elsewhere (sam-bench zoo import); the project's own are circles


def scatter_png(dataset: str, board: str, models: list[BoardEntry]) -> bytes:
    fig, ax = figure_labels.board_plot()
    shown = rows(models, board)
    found = budgets.board_named(board)
    for r in shown:  # one palette and one naming for methods on every plot (the method table's)
        ax.scatter(
            r["clean_acc"],
            r["autoattack_acc"],
            color=method_table.colour(r["method"]),
            marker=ELSEWHERE_MARKER if r["trained_elsewhere"] else "o",
            s=36,
            zorder=3,
            label=method_table.label(r["method"]),
            clip_on=False,
        )
    if any(r["trained_elsewhere"] for r in shown):  # the marker, not the colour, tells where a model was trained
        ax.scatter([], [], marker=ELSEWHERE_MARKER, color="grey", s=36, label="trained elsewhere (triangles)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), title="method", fontsize=8, loc="upper left")
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel(f"AutoAttack accuracy (%), {found.title}")
    ax.set_title(f"{dataset} {found.title}: clean vs robust (numbers: rank)")
    return figure_labels.board_png(
        fig, ax, [r["clean_acc"] for r in shown], [r["autoattack_acc"] for r in shown], [str(r["rank"]) for r in shown]
    )


def column_groups(models: list[BoardEntry], board: str) -> list[dict]:
    """The HTML page's column chooser: the groups of columns a reader may hide or show (rank, model, clean and
    AutoAttack accuracy always show). Shown at first: those that fit a 1,300-pixel window (the board's own norm's
    column attack columns; extra data, never used by sam-bench's models, and the venue hidden until ticked)."""
    groups = dict.fromkeys((attack, norm) for attack, norm, _, _ in columns(models, board))
    own = budgets.board_named(board).norm
    return [
        *({"group": f"{a.name}-{norm}", "label": f"{a.display} {norm}", "shown": norm == own} for a, norm in groups),
        {"group": "extra", "label": "Extra data", "shown": False},
        {"group": "arch", "label": "Architecture", "shown": True},
        {"group": "training", "label": "Training", "shown": True},
        {"group": "evaluated", "label": "Evaluated on", "shown": True},
        {"group": "venue", "label": "Venue", "shown": False},
    ]


def html(
    dataset: str,
    board: str,
    models: list[BoardEntry],
    png: bytes | None = None,
    sample: bool = False,
    other_page: str | None = None,
    retired: list[BoardEntry] | None = None,
    other_boards: list[str] | None = None,
    note: SmallBoardsNote | None = None,
    findings: str | None = None,
) -> str:
    """A board's standalone page (`board`: its folder); `other_boards`: the folders of the data set's other boards
    with a page, linked from a small-budget board's; `note`: a RobustBench board's line to the small-budget boards;
    `findings`: the README's findings relative to the page, for a small-budget board's line (claim_note)."""
    found = budgets.board_named(board)
    return page_template("leaderboard.html.j2").render(
        dataset=dataset,
        threat_model=found.norm,
        eps=found.eps,
        folder=board,
        robustbench=found.robustbench,
        robustbench_budget=budgets.robustbench_board(found.norm).title,
        other_boards=[
            {"page": other.page(dataset), "title": other.title}
            for other in map(budgets.board_named, other_boards or [])
            if other != found
        ],
        rows=rows(models, board),
        columns=[
            {"header": column_header(c), "group": f"{c[0].name}-{c[1]}", "key": f"{c[0].name}{i}"}
            for i, c in enumerate(columns(models, board), 1)
        ],
        column_groups=column_groups(models, board),
        version=__version__,
        sample=sample,
        ranked_by=ranked_by(models),
        other_page=other_page,
        plot=base64.b64encode(png).decode() if png else None,
        retired=sorted(retired or [], key=lambda m: m.model_id),
        note=None if note is None else {"text": note.text, "links": note.links(dataset)},
        claim=None if findings is None else {"text": claim_note.TEXT, "href": findings, "link": claim_note.LINK_TEXT},
    )


def render(leaderboard_dir=None, dataset=None, threat_model=None, readme=None, folders=None) -> list[Path]:
    """Write <dataset>-<board folder>.md/.html/.png next to the model_info folders, for every board (or those asked
    for: a data set, a norm's boards, the board folders named); with `readme`, also replace the table between the
    markers `<!-- sam-bench leaderboard cifar10/Linf start -->` and `... end -->` there (and the list of boards
    between `... cifar10/boards start -->` and its end). Every entry's figures are first recomputed from its results
    files (`evidence.check_board`): an entry that disagrees is refused in one line and nothing is written."""
    root = boards_dir(leaderboard_dir)
    found = boards(root, dataset, threat_model, folders)
    if not found:
        raise BadInput(
            f"no leaderboard entries in {root}"
            + (f" for {dataset or '*'}/{threat_model or '*'}" if dataset or threat_model else "")
            + "; add results with sam-bench evaluate <ModelId> ... --leaderboard"
        )
    loaded = {}
    for ds, tm in found:  # every figure recomputed from its results file, before any write (each row with its seed)
        checked = evidence.check_board(load_board(ds, tm, root), ds, tm, root)
        loaded[ds, tm] = checked_for.annotate(full_reruns.annotate(checked, root), tm)  # rows show them
    # the real (not sample) boards with a page, every one of the data set's, for the links between them
    with_page = {
        ds: [
            f
            for d, f in boards(root, ds)
            if any(not m.on_sample and not m.retired for m in loaded.get((d, f)) or load_board(d, f, root))
        ]
        for ds in sorted({ds for ds, _ in found})
    }
    written, tables = [], {}
    for (ds, tm), everything in loaded.items():
        # Models trained or scored on the bundled sample are a working example, not comparable with
        # real evaluations: they get a page (and README table) of their own, ranked among themselves.
        groups = {"": [m for m in everything if not m.on_sample], "-sample": [m for m in everything if m.on_sample]}
        for suffix, group in groups.items():
            stem = root / f"{ds}-{tm}{suffix}"
            models = [m for m in group if not m.retired]  # retired rows: listed under the table
            retired = [m for m in group if m.retired]
            sample = bool(suffix)
            board_key = f"{ds}/{tm}{'/sample' if sample else ''}"
            if not models:
                for old in (stem.with_suffix(e) for e in (".md", ".html", ".png")):
                    old.unlink(missing_ok=True)  # none left of this kind: no stale page
                if retired:  # a README's table of this board lists them, rather than rows that left it
                    lines = ["No model is ranked here: every entry is retired.", *retire.markdown_lines(retired)]
                    tables[board_key] = "".join(line + "\n" for line in lines)
                continue
            ranked_beside = any(not m.retired for m in groups["" if sample else "-sample"])
            other = f"{ds}-{tm}{'' if sample else '-sample'}.html" if ranked_beside else None  # a page that exists
            board = budgets.board_named(tm)
            title = (
                f"**{ds}, {board.norm}, eps = {board.eps}: models trained or scored on the bundled CIFAR-10 sample** "
                f"(a working example; ranked by {ranked_by(models)}, not comparable with the table above)"
                if sample
                else None
            )
            png = scatter_png(ds, tm, models)
            note = None if sample else small_boards_note(tm, models, with_page[ds])
            retired_lines = "".join(line + "\n" for line in retire.markdown_lines(retired))
            table = markdown(ds, tm, models, title)
            claim = claim_note.applies(tm, sample)
            # the notes' links are relative to the file they go in: beside the pages, or the readme's folder
            tables[board_key] = table + _notes(claim, note, ds, root, readme) + retired_lines
            findings = claim_note.href(root) if claim else None
            page = html(ds, tm, models, png, sample, other, retired, with_page[ds], note, findings)
            files.write_text(stem.with_suffix(".md"), table + _notes(claim, note, ds, root, root) + retired_lines)
            files.write_text(stem.with_suffix(".html"), page)
            files.atomic_write(stem.with_suffix(".png"), lambda f, data=png: f.write(data))
            written += [stem.with_suffix(s) for s in (".md", ".html", ".png")]
    if readme is not None:
        readme = Path(readme)
        for ds, folders_with_page in with_page.items():
            tables[f"{ds}/boards"] = boards_list(ds, folders_with_page, root, readme.resolve().parent)
        written.append(update_readme(readme, tables))
    return written


def _notes(claim: bool, note: SmallBoardsNote | None, dataset: str, root: Path, seen_from) -> str:
    """The lines under a board's table: the claim's (a small-budget board's, claim_note) and the note linking the
    small boards' tables (small_boards_note), links relative to `seen_from`, the file they go in or its folder."""
    if seen_from is None:
        return ""
    lines = [claim_note.markdown(seen_from)] if claim else []
    if note is not None:
        lines.append(note.markdown(lambda folder: claim_note.link(root / f"{dataset}-{folder}.md", seen_from)))
    return "".join("\n" + line + "\n" for line in lines)


def boards_list(dataset: str, folders: list[str], root: Path, seen_from: Path) -> str:
    """The data set's boards as a markdown list, each with its page, plot and table, linked from folder `seen_from`."""
    lines = []
    for folder in folders:
        board = budgets.board_named(folder)
        stem = root / f"{dataset}-{folder}"
        links = ", ".join(
            f"[{kind}]({claim_note.link(stem.with_suffix(suffix), seen_from)})"
            for kind, suffix in (("page", ".html"), ("table", ".md"), ("plot", ".png"))
        )
        kind = (
            "RobustBench's budget, the one `leaderboard submit` sends"
            if board.robustbench
            else "one of the paper's small budgets, where ST and SAM are not at 0%"
        )
        lines.append(f"- **{dataset} {board.title}** ({kind}): {links}")
    return "".join(line + "\n" for line in lines)


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _: text


def update_readme(readme, tables: dict[str, str]) -> Path:
    readme = Path(readme)
    text = files.read_text(readme)
    replaced = 0
    for board, table in tables.items():
        start, end = (_README_MARK.format(board=board, edge=e) for e in ("start", "end"))
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        replacement = f"{start}\n{table}{end}"
        text, n = pattern.subn(_literally(replacement), text)  # a function: the table is no regex template
        replaced += n
    if not replaced:
        marks = _README_MARK.format(board="cifar10/Linf", edge="start")
        raise BadInput(
            f"{readme}: no leaderboard markers to fill; put {marks} and the matching '... end -->' "
            "line where the table belongs"
        )
    files.write_text(readme, text)
    return readme
