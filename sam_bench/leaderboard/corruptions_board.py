"""The corruptions boards: zoo models ranked by their mean accuracy over CIFAR-10-C's 75 corruptions and severities,
as RobustBench ranks its corruptions board, with their clean accuracy and the mean of each family beside it; their
folders, pages and RobustBench's `unaggregated_results.csv`: docs/leaderboard.md, "Common corruptions".

The board is read from the set the results file records (`corruptions.catalogue.board`): a set sam-bench generated
goes on `corruptions-generated`, never beside the official set's figures (its images are close to the official
ones, not the same: docs/evaluation.md), and `submit` refuses it. An entry names its results file and sha256; every
figure is derived from the file's per-image outcomes (evaluation/corruption_outcomes.py) when the entry is written
(only through the gate, leaderboard/publication.py) and again before a page or the CSV is rendered.
"""

from __future__ import annotations

import base64
from pathlib import Path

from sam_bench import figure_labels, files
from sam_bench.corruptions import catalogue
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import corruption_outcomes
from sam_bench.evaluation.pinned import PinnedResults
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.leaderboard.board_text import markdown as text
from sam_bench.leaderboard.board_text import page_template
from sam_bench.leaderboard.budgets import SAMPLE_TEST_SET
from sam_bench.leaderboard.entries import (
    CHECKOUT,
    MODEL_INFO_KEYS,
    TEST_SET_SIZE,
    _entry_for,
    boards_dir,
    described,
    images_text,
    percent,
    read_results,
    results_path,
    training_text,
)
from sam_bench.version import __version__
from sam_bench.zoo import store as zoo
from sam_bench.zoo.entry import ZooEntry

FOLDERS: tuple[str, ...] = (catalogue.board({"generated": False}), catalogue.board({"generated": True}))
SCHEMA = "sam-bench/corruptions-entry/v2"
CSV = "unaggregated_results.csv"  # RobustBench's name for it
# RobustBench's fields of a corruptions entry, in its order: its standard entry with no eps and the mean over the 75
ROBUSTBENCH_KEYS = tuple("corruptions_acc" if key == "autoattack_acc" else key for key in MODEL_INFO_KEYS)
FIGURES = ("clean_acc", "reported", "corruptions_acc")  # the RobustBench fields a results file gives


def holds(pinned: PinnedResults) -> bool:
    """Whether a results file (pinned: read once) holds a corruptions evaluation: the corruptions board's."""
    return Results.of(pinned.json()).evaluation(catalogue.THREAT_MODEL, catalogue.THREAT_MODEL) is not None


def zoo_entry(pinned: PinnedResults, zoo_dir=None) -> ZooEntry:
    """The zoo entry whose weights the file measured (a board ranks zoo models)."""
    return _entry_for(Results.of(pinned.json()), zoo_dir)


def _evaluation(results: Results, source: dict) -> Evaluation:
    ev = results.evaluation(catalogue.THREAT_MODEL, catalogue.THREAT_MODEL)
    if ev is None or ev.corruption_set is None or ev.clean_acc is None or ev.robust_acc is None:
        raise BadInput(
            f"{source['file']}: holds no corruptions evaluation; sam-bench evaluate --threat-model corruptions"
        )
    return ev


def figures(results: Results, source: dict) -> tuple[dict, dict]:
    """What a results file's corruptions evaluation gives an entry, every figure from its outcomes: RobustBench's
    accuracies (`reported`, its field for a paper's figure, is the one measured here), and ours (its `sam_bench`)."""
    ev = _evaluation(results, source)
    assert ev.robust_acc is not None and ev.clean_acc is not None  # _evaluation refuses an entry without them
    mean = percent(ev.robust_acc)
    ours = {
        "schema": SCHEMA,
        "board": catalogue.board(ev.corruption_set),
        "families": {family: percent(value) for family, value in (ev.breakdown or {}).items()},
        "n_examples": ev.n_examples,
        "test_set": results.dataset.name,
        "corruption_set": ev.corruption_set,
        "weights_sha256": results.model.weights_sha256,
        "results": source,
    }
    return {"clean_acc": percent(ev.clean_acc), "reported": mean, "corruptions_acc": mean}, ours


def entry_record(results: Results, source: dict, entry: ZooEntry) -> dict:
    """The board entry of zoo model `entry` from a results file: RobustBench's fields in their order, then ours."""
    found, ours = figures(results, source)
    footnote = (
        f"{training_text(entry)}; the mean over 15 corruptions at 5 severities of {ours['corruption_set']['name']} "
        f"on {images_text(ours['n_examples'], results.dataset.n_test_total, ours['test_set'])}."
    )
    return {**described(entry), "eps": None, **found, "footnote": footnote, "sam_bench": {"model_id": entry.id, **ours}}


def write(pinned: PinnedResults, leaderboard_dir=None, zoo_dir=None) -> tuple[Path, bool]:
    """The entry of a file through the gate, written from the very bytes measured again: (path, whether changed)."""
    results, source = read_results(pinned)
    entry = zoo_entry(pinned, zoo_dir)
    record = entry_record(results, source, entry)
    path = boards_dir(leaderboard_dir) / entry.dataset / record["sam_bench"]["board"] / f"{entry.id}.json"
    if path.is_file() and files.read_json(path) == record:
        return path, False
    files.write_json(path, record)
    return path, True


def checked_rows(dataset: str, board: str, leaderboard_dir=None) -> list[dict]:
    """A board's rows, best first, each entry recomputed from the results file it names (its sha256 too) and
    refused in one line where any figure differs: its fields, the model's training seed (None: trained elsewhere)
    and its accuracy per corruption and severity (`accuracy[corruption][severity]`, fractions)."""
    rows = []
    for path in sorted((boards_dir(leaderboard_dir) / dataset / board).glob("*.json")):
        stated = files.read_json(path)
        ours = stated.get("sam_bench") or {}
        if ours.get("schema") != SCHEMA:
            raise SamBenchError(
                f"{path}: not a {SCHEMA} entry (an entry of an earlier layout); add its results again "
                "(sam-bench leaderboard add)"
            )
        named = results_path(ours["results"]["file"], leaderboard_dir)
        if not named.is_file():
            raise SamBenchError(f"{path}: names {ours['results']['file']}, which is not here")
        if files.sha256_file(named) != ours["results"]["sha256"]:
            raise SamBenchError(f"{path}: its results file {named} changed since the entry was written (sha256)")
        results = Results.read(named)
        derived, theirs = figures(results, ours["results"])
        differ = [k for k in FIGURES if derived[k] != stated.get(k)] + [k for k in theirs if theirs[k] != ours.get(k)]
        if stated.get("eps", "missing") is not None:
            differ.append("eps")
        if differ:
            raise SamBenchError(
                f"{path}: {', '.join(sorted(differ))} differ from what its results file's per-image outcomes give; "
                "add the results again (sam-bench leaderboard add)"
            )
        if theirs["board"] != board:
            raise SamBenchError(f"{path}: measured on {theirs['corruption_set']['name']}, not a {board} set")
        found = corruption_outcomes.figures(_evaluation(results, ours["results"]))
        assert found is not None, "a checked corruptions evaluation has its per-image outcomes"
        rows.append(
            {**stated, **ours, "model_id": path.stem, "seed": results.model.seed, "accuracy": found["accuracy"]}
        )
    rows.sort(key=lambda r: (-float(r["corruptions_acc"]), -float(r["clean_acc"]), r["model_id"]))
    return rows


def unaggregated_csv(rows: list[dict]) -> str:
    """RobustBench's `unaggregated_results.csv` of these rows: two header lines (each corruption five times, in
    RobustBench's order, then the severities 1-5 under each), then one line per model, its id and its 75
    accuracies as fractions (as RobustBench's evaluation writes them with pandas)."""
    columns = [(c, s) for c in catalogue.ROBUSTBENCH_ORDER for s in catalogue.SEVERITIES]
    lines = [
        "," + ",".join(c for c, _ in columns),
        "," + ",".join(str(s) for _, s in columns),
        *(r["model_id"] + "," + ",".join(repr(r["accuracy"][c][str(s)]) for c, s in columns) for r in rows),
    ]
    return "\n".join(lines) + "\n"


def scatter_png(rows: list[dict], dataset: str, board: str) -> bytes:
    """Clean against mean corruption accuracy, each point numbered by its rank, both axes from zero."""
    clean = [float(r["clean_acc"]) for r in rows]
    corrupted = [float(r["corruptions_acc"]) for r in rows]
    fig, ax = figure_labels.board_plot()
    ax.scatter(clean, corrupted, s=36, zorder=3, clip_on=False)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("mean accuracy over the 75 corruptions and severities (%)")
    ax.set_title(f"{dataset} {board}: clean vs corrupted (numbers: rank)")
    return figure_labels.board_png(fig, ax, clean, corrupted, [str(rank) for rank in range(1, len(rows) + 1)])


def markdown(rows: list[dict], dataset: str, board: str, plot: str | None = None) -> str:
    """A board's page: its table, then its plot (`plot`: the PNG's file name beside the page)."""
    what = _what(board)
    lines = [
        f"# {dataset}: common corruptions ({board})",
        "",
        f"Ranked by the mean accuracy over 15 corruptions at 5 severities of {what}, as RobustBench ranks its "
        "corruptions board; every figure derived from the per-image outcomes of the results file each row names. "
        "Each row is one trained model (its training seed; –: trained elsewhere) on the test images it names; its "
        f"accuracy at each corruption and severity, in RobustBench's layout: [{CSV}]({dataset}/{board}/{CSV}).",
        "",
        "| rank | model | seed | clean | corruptions (mean of 75) | "
        + " | ".join(catalogue.FAMILIES)
        + " | set | images |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in catalogue.FAMILIES) + " | --- | --- |",
    ]
    for rank, row in enumerate(rows, 1):
        families = " | ".join(row["families"].get(f, "-") for f in catalogue.FAMILIES)
        lines.append(
            f"| {rank} | {text(row['model_id'])} | {seed_text(row['seed'])} | {row['clean_acc']} "
            f"| {row['corruptions_acc']} | {families} | {text(row['corruption_set']['name'])} | {row['n_examples']:,} |"
        )
    if plot:
        lines += ["", f"![clean vs corrupted accuracy]({plot})"]
    return "\n".join(lines) + "\n"


def seed_text(seed: int | None) -> str:
    """A row's training seed as its page shows it ('–' for a model trained elsewhere)."""
    return "–" if seed is None else str(seed)


def _what(board: str) -> str:
    if board == catalogue.board({"generated": False}):
        return "the official CIFAR-10-C"
    return (
        "a CIFAR-10-C that sam-bench generated (close to the official set, not the same: not comparable with "
        "RobustBench's corruptions board, and never submitted to it)"
    )


def html(rows: list[dict], dataset: str, board: str, png: bytes | None = None) -> str:
    """A board's standalone page: the markdown page's table, with its plot inlined."""
    return page_template("corruptions.html.j2").render(
        dataset=dataset,
        board=board,
        what=_what(board),
        rows=rows,
        families=list(catalogue.FAMILIES),
        plot=base64.b64encode(png).decode() if png else None,
        version=__version__,
        csv=f"{dataset}/{board}/{CSV}",
        seed_text=seed_text,
    )


def boards(leaderboard_dir=None) -> list[tuple[str, str]]:
    """(dataset, board) of every corruptions board with entries."""
    root = boards_dir(leaderboard_dir)
    return sorted({(p.parent.parent.name, p.parent.name) for f in FOLDERS for p in root.glob(f"*/{f}/*.json")})


def render(leaderboard_dir=None, dataset: str | None = None) -> list[Path]:
    """Every corruptions board's pages (the bundled sample's rows on a page of their own) and its CSV, each entry
    checked against its results file first (`checked_rows`): nothing is written where one disagrees."""
    root = boards_dir(leaderboard_dir)
    pages: dict[Path, str | bytes] = {}
    for ds, board in boards(leaderboard_dir):
        if dataset and ds != dataset:
            continue
        rows = checked_rows(ds, board, leaderboard_dir)
        pages[root / ds / board / CSV] = unaggregated_csv(rows)
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


def check_submittable(model_id: str, leaderboard_dir=None) -> Path:
    """The model's entry to submit: on the official set's board, refused in one line where it has none or only a
    generated set's (catalogue.check_submittable: RobustBench ranks the official CIFAR-10-C)."""
    root = boards_dir(leaderboard_dir)
    found = sorted(p for f in FOLDERS for p in root.glob(f"*/{f}/{model_id}.json"))
    if not found:
        raise BadInput(
            f"{model_id} has no corruptions board entry; evaluate it with --threat-model corruptions and "
            "add the results (sam-bench leaderboard add)"
        )
    chosen = next((p for p in found if p.parent.name == FOLDERS[0]), found[0])  # the official set's, where it has one
    catalogue.check_submittable(files.read_json(chosen)["sam_bench"]["corruption_set"])
    return chosen


def submission_problems(row: dict, entry: ZooEntry) -> list[str]:
    """Every reason RobustBench's corruptions board would not take this row (an official set's, checked)."""
    problems = []
    full = TEST_SET_SIZE.get(row["dataset"])
    if (row["n_examples"], row["test_set"]) != (full, row["dataset"]):
        problems.append(
            f"measured on {row['n_examples']:,} {row['test_set']} test images; RobustBench's corruptions board takes "
            f"all {full or 0:,} of {row['dataset']} at every corruption and severity"
        )
    if entry.trained_on != row["dataset"] and not entry.is_trained_elsewhere:
        problems.append(f"the model was trained on {entry.trained_on}, not on the {row['dataset']} training set")
    if row["weights_sha256"] != entry.weights_sha256:
        problems.append("the board's figures are for other weights than the zoo entry now holds")
    if not str(row.get("link", "")).startswith(("http://", "https://")):
        problems.append("no paper link (an http(s) URL to the paper or report; pass --link)")
    return problems


def submit(
    model_id: str,
    leaderboard_dir=None,
    zoo_dir=None,
    out_dir=None,
    paper: dict | None = None,
    *,
    data_dir=None,
    device: str = "cpu",
    progress=None,
    check_evidence,
) -> list[Path]:
    """`leaderboard submit --threat-model corruptions` (own_boards.OwnBoard): what a RobustBench pull request for its
    corruptions board holds, in <out_dir>: `<ModelId>.json` (the entry's RobustBench fields) and the model's row of
    `unaggregated_results.csv` under RobustBench's header. Refused in one line for a generated set's figures and
    with every reason RobustBench would not take the row; the results file is measured again first, as for every
    board (`check_evidence`)."""
    path = check_submittable(model_id, leaderboard_dir)
    entry = zoo.find_entry(model_id, zoo_dir)
    row = next(
        r for r in checked_rows(path.parent.parent.name, path.parent.name, leaderboard_dir) if r["model_id"] == model_id
    )
    row.update({k: v for k, v in (paper or {}).items() if v is not None and k in ROBUSTBENCH_KEYS})
    problems = submission_problems(row, entry)
    verified = zoo.verify(model_id, zoo_dir)[0]
    if not verified[1]:
        problems.append(f"the weights do not verify: {verified[2]}")
    if problems:
        raise BadInput(f"{model_id} does not qualify for RobustBench's corruptions board: " + "; ".join(problems))
    named = results_path(row["results"]["file"], leaderboard_dir)
    check_evidence(named, entry, zoo_dir=zoo_dir, data_dir=data_dir, device=device, progress=progress)
    out = Path(out_dir) if out_dir is not None else CHECKOUT / "submissions" / model_id
    files.write_json(out / f"{model_id}.json", {k: row[k] for k in ROBUSTBENCH_KEYS if k in row})
    files.write_text(out / CSV, unaggregated_csv([row]))
    return [out / f"{model_id}.json", out / CSV]
