"""The corruptions boards: zoo models ranked by their mean accuracy over CIFAR-10-C's 75 corruptions and severities,
as RobustBench ranks its corruptions board, with their clean accuracy and the mean of each family beside it.

A result on the official CIFAR-10-C goes on the `corruptions` board; a result on a set sam-bench generated goes on
the `corruptions-generated` board, never beside official figures (the generated images are close to the official
ones, not the same: docs/evaluation.md). The board is read from the set the results file records
(`corruptions.catalogue.board`).

    leaderboards/<dataset>/corruptions/<ModelId>.json             the official set's entries
    leaderboards/<dataset>/corruptions-generated/<ModelId>.json   a generated set's entries
    leaderboards/<dataset>-<board>[-sample].{md,html,png}         each board's pages (the bundled sample's apart)

An entry names the results file its figures come from and that file's sha256; every figure is derived from the
file's per-image outcomes (evaluation/corruption_outcomes.py) when the entry is written and again before a page is
rendered, so an entry edited after the fact, or a results file changed under it, is refused in one line. Entries are
written only through the one gate (leaderboard/publication.py), which measures a sample of the file again first.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sam_bench import figure_labels, files
from sam_bench.corruptions import catalogue
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation.pinned import PinnedResults
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.leaderboard.board_text import markdown as text
from sam_bench.leaderboard.entries import (
    _entry_for,
    boards_dir,
    percent,
    read_results,
    results_path,
)
from sam_bench.version import __version__
from sam_bench.zoo.entry import ZooEntry

FOLDERS = (catalogue.board({"generated": False}), catalogue.board({"generated": True}))
SAMPLE_TEST_SET = "cifar10-sample"
SCHEMA = "sam-bench/corruptions-entry/v1"


def evaluation_of(results: Results) -> Evaluation | None:
    """The corruptions entry of a results file, or None where it has none."""
    return results.evaluation(catalogue.THREAT_MODEL, catalogue.THREAT_MODEL)


def holds(pinned: PinnedResults) -> bool:
    """Whether a results file (pinned: read once) holds a corruptions evaluation: the corruptions board's."""
    return evaluation_of(Results.of(pinned.json())) is not None


def zoo_entry(pinned: PinnedResults, zoo_dir=None) -> ZooEntry:
    """The zoo entry whose weights the file measured (a board ranks zoo models)."""
    return _entry_for(Results.of(pinned.json()), zoo_dir)


def figures(results: Results, source: dict, model_id: str, dataset: str) -> dict:
    """A board entry of the zoo model `model_id` of `dataset` from a results file's corruptions evaluation: every
    figure derived from its outcomes."""
    ev = evaluation_of(results)
    if ev is None or ev.corruption_set is None or ev.clean_acc is None:
        raise BadInput(
            f"{source['file']}: holds no corruptions evaluation; sam-bench evaluate --threat-model corruptions"
        )
    return {
        "schema": SCHEMA,
        "name": model_id,
        "dataset": dataset,
        "threat_model": catalogue.THREAT_MODEL,
        "board": catalogue.board(ev.corruption_set),
        "clean_acc": percent(ev.clean_acc),
        "corruptions_acc": percent(ev.robust_acc),
        "families": {family: percent(value) for family, value in (ev.breakdown or {}).items()},
        "n_examples": ev.n_examples,
        "test_set": results.dataset.name,
        "corruption_set": ev.corruption_set,
        "weights_sha256": results.model.weights_sha256,
        "results": source,
    }


def entry_path(dataset: str, board: str, model_id: str, leaderboard_dir=None) -> Path:
    return boards_dir(leaderboard_dir) / dataset / board / f"{model_id}.json"


def write(pinned: PinnedResults, leaderboard_dir=None, zoo_dir=None) -> tuple[Path, bool]:
    """The board entry of a results file already through the gate, written from the very bytes measured again;
    (its path, whether it changed)."""
    results, source = read_results(pinned)
    entry = zoo_entry(pinned, zoo_dir)
    record = figures(results, source, entry.id, entry.dataset)
    path = entry_path(entry.dataset, record["board"], entry.id, leaderboard_dir)
    if path.is_file() and files.read_json(path) == record:
        return path, False
    files.write_json(path, record)
    return path, True


def checked_rows(dataset: str, board: str, leaderboard_dir=None) -> list[dict]:
    """A board's entries, each recomputed from the results file it names (its sha256 too) and refused in one line
    where any figure differs; best first (mean corruption accuracy, then clean accuracy)."""
    rows = []
    for path in sorted((boards_dir(leaderboard_dir) / dataset / board).glob("*.json")):
        stated = files.read_json(path)
        named = results_path(stated["results"]["file"], leaderboard_dir)
        if not named.is_file():
            raise SamBenchError(f"{path}: names {stated['results']['file']}, which is not here")
        if files.sha256_file(named) != stated["results"]["sha256"]:
            raise SamBenchError(f"{path}: its results file {named} changed since the entry was written (sha256)")
        results = Results.read(named)
        derived = figures(results, stated["results"], stated["name"], stated["dataset"])
        if derived != stated:
            differ = sorted(k for k in derived if derived[k] != stated.get(k))
            raise SamBenchError(
                f"{path}: {', '.join(differ)} differ from what its results file's per-image outcomes give; "
                "add the results again (sam-bench leaderboard add)"
            )
        if derived["board"] != board:
            raise SamBenchError(f"{path}: measured on {derived['corruption_set']['name']}, not a {board} set")
        rows.append({**stated, "model_id": path.stem})
    rows.sort(key=lambda r: (-float(r["corruptions_acc"]), -float(r["clean_acc"]), r["model_id"]))
    return rows


def scatter_png(rows: list[dict], dataset: str, board: str) -> bytes:
    """Clean accuracy against the mean corruption accuracy, each point numbered by its rank (labels placed clear of
    one another), both axes from zero so that distances read as accuracy differences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = [float(r["clean_acc"]) for r in rows]
    corrupted = [float(r["corruptions_acc"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7.2, 5.4), dpi=120)
    ax.scatter(clean, corrupted, s=36, zorder=3, clip_on=False)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("mean accuracy over the 75 corruptions and severities (%)")
    ax.set_title(f"{dataset} {board}: clean vs corrupted (numbers: rank)")
    ax.set_xlim(0, min(100, max(clean + [10.0]) * 1.1 + 2))
    ax.set_ylim(0, min(100, max(corrupted + [10.0]) * 1.1 + 2))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figure_labels.place(ax, clean, corrupted, [str(rank) for rank in range(1, len(rows) + 1)])
    png = files.png_bytes(fig)
    plt.close(fig)
    return png


def markdown(rows: list[dict], dataset: str, board: str, plot: str | None = None) -> str:
    """A board's page: rank, model, clean and mean corruption accuracy, the families, the set and its images, and
    its plot (`plot`: the PNG's file name beside the page)."""
    what = _what(board)
    lines = [
        f"# {dataset}: common corruptions ({board})",
        "",
        f"Ranked by the mean accuracy over 15 corruptions at 5 severities of {what}, as RobustBench ranks its "
        "corruptions board; every figure derived from the per-image outcomes of the results file each row names.",
        "",
        "| rank | model | clean | corruptions (mean of 75) | " + " | ".join(catalogue.FAMILIES) + " | set | images |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in catalogue.FAMILIES) + " | --- | --- |",
    ]
    for rank, row in enumerate(rows, 1):
        families = " | ".join(row["families"].get(f, "-") for f in catalogue.FAMILIES)
        lines.append(
            f"| {rank} | {text(row['model_id'])} | {row['clean_acc']} | {row['corruptions_acc']} | {families} | "
            f"{text(row['corruption_set']['name'])} | {row['n_examples']:,} |"
        )
    if plot:
        lines += ["", f"![clean vs corrupted accuracy]({plot})"]
    return "\n".join(lines) + "\n"


def _what(board: str) -> str:
    if board == catalogue.board({"generated": False}):
        return "the official CIFAR-10-C"
    return (
        "a CIFAR-10-C that sam-bench generated (close to the official set, not the same: not comparable with "
        "RobustBench's corruptions board, and never submitted to it)"
    )


def html(rows: list[dict], dataset: str, board: str, png: bytes | None = None) -> str:
    """A board's standalone page: the markdown page's table, with its plot inlined."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("sam_bench.leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return env.get_template("corruptions.html.j2").render(
        dataset=dataset,
        board=board,
        what=_what(board),
        rows=rows,
        families=list(catalogue.FAMILIES),
        plot=base64.b64encode(png).decode() if png else None,
        version=__version__,
    )


def boards(leaderboard_dir=None) -> list[tuple[str, str]]:
    """(dataset, board) of every corruptions board with entries."""
    root = boards_dir(leaderboard_dir)
    return sorted({(p.parent.parent.name, p.parent.name) for f in FOLDERS for p in root.glob(f"*/{f}/*.json")})


def render(leaderboard_dir=None, dataset: str | None = None) -> list[Path]:
    """Every corruptions board's page (the bundled sample's rows on a page of their own), each entry checked
    against its results file first (`checked_rows`): nothing is written where one disagrees."""
    root = boards_dir(leaderboard_dir)
    pages: dict[Path, str | bytes] = {}
    for ds, board in boards(leaderboard_dir):
        if dataset and ds != dataset:
            continue
        rows = checked_rows(ds, board, leaderboard_dir)
        for sample in (False, True):
            shown = [r for r in rows if (r["test_set"] == SAMPLE_TEST_SET) == sample]
            if shown:
                stem = f"{ds}-{board}{'-sample' if sample else ''}"
                png = scatter_png(shown, ds, board)
                pages[root / f"{stem}.md"] = markdown(shown, ds, board, plot=f"{stem}.png")
                pages[root / f"{stem}.html"] = html(shown, ds, board, png)
                pages[root / f"{stem}.png"] = png
    for path, content in pages.items():  # every entry checked above, before any page is written
        if isinstance(content, bytes):
            files.atomic_write(path, lambda f, data=content: f.write(data))
        else:
            files.write_text(path, content)
    return list(pages)


def check_submittable(model_id: str, leaderboard_dir=None) -> dict:
    """`leaderboard submit --threat-model corruptions`: the model's entry on the official set's board, refused in one
    line where its only corruptions figures are a generated set's (catalogue.check_submittable: RobustBench ranks
    the official CIFAR-10-C) or where it has none."""
    root = boards_dir(leaderboard_dir)
    found = sorted(p for f in FOLDERS for p in root.glob(f"*/{f}/{model_id}.json"))
    if not found:
        raise BadInput(
            f"{model_id} has no corruptions board entry; evaluate it with --threat-model corruptions and "
            "add the results (sam-bench leaderboard add)"
        )
    official = [files.read_json(p) for p in found if p.parent.name == FOLDERS[0]]
    if not official:
        catalogue.check_submittable(files.read_json(found[0])["corruption_set"])
    catalogue.check_submittable(official[0]["corruption_set"])
    return official[0]


def refuse_submission(model_id: str, leaderboard_dir=None) -> None:
    """`leaderboard submit --threat-model corruptions` (own_boards.OwnBoard): refused in one line, a generated set's
    figures as never RobustBench's (`check_submittable`), the official set's as sent by RobustBench's own
    instructions."""
    check_submittable(model_id, leaderboard_dir)
    raise BadInput(
        f"{model_id}: its official CIFAR-10-C figures are on the corruptions board; sam-bench writes RobustBench's "
        "submission for the Linf and L2 boards only: submit corruptions through RobustBench's own instructions"
    )
