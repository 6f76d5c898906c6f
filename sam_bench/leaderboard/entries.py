"""Leaderboard entries: RobustBench's model_info JSON, one file per model and board
(`leaderboards/<dataset>/<board folder>/<ModelId>.json`, the folders from `budgets`), written from results files
of `sam-bench evaluate` (each number from a file whose weights sha256 matches the zoo entry) and read back. The
model_info fields are RobustBench's (percentages as strings, eps as a string); everything else we know (the column
attacks' figures, training cost, where each number came from) sits under the "sam_bench" key, which RobustBench's
tools ignore.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from sam_bench import files, schema
from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, degenerate, results_file
from sam_bench.evaluation.attack_table import Attack
from sam_bench.evaluation.pinned import PinnedResults, pin
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.leaderboard import budgets
from sam_bench.leaderboard.budgets import SAMPLE_TEST_SET, Board
from sam_bench.stats import inference
from sam_bench.threat_models import threat_model as threat_model_record
from sam_bench.zoo import imported
from sam_bench.zoo import store as zoo
from sam_bench.zoo.entry import ZooEntry

TEST_SET_SIZE = {"cifar10": 10_000, "cifar100": 10_000}

MODEL_INFO_KEYS = (
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
)
CHECKOUT = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)
R = TypeVar("R")


def boards_dir(leaderboard_dir) -> Path:
    """The boards' root: `leaderboard_dir`, else $SAM_BENCH_LEADERBOARDS, else the checkout's leaderboards/."""
    if leaderboard_dir is None:
        leaderboard_dir = os.environ.get("SAM_BENCH_LEADERBOARDS") or CHECKOUT / "leaderboards"
    return Path(leaderboard_dir)


def interval(fraction: float, n: int | None) -> list[str] | None:
    """The 95% Wilson interval of an accuracy over n test images, as percent strings (None without n)."""
    if not n:
        return None
    low, high = inference.wilson(round(fraction * n), n)
    return [percent(low), percent(high)]


def percent(fraction: float) -> str:
    """0.4567 -> '45.67', as robustbench.utils.update_json writes accuracies."""
    return str(round(float(fraction) * 100, 2))


def shown_path(path: Path) -> str:
    """How an entry names a results file: relative to the checkout where inside it (committed boards), else absolute."""
    try:
        return str(path.resolve().relative_to(CHECKOUT))
    except ValueError:
        return str(path.resolve())


def results_path(shown: str, leaderboard_dir=None) -> Path:
    """The results file an entry names (`shown_path`): absolute, or relative to the checkout, or to the
    folder that holds the boards (a reproduction's own boards)."""
    path = Path(shown)
    if path.is_absolute():
        return path
    candidates = [CHECKOUT / path, boards_dir(leaderboard_dir).resolve().parent / path]
    return next((c for c in candidates if c.is_file()), candidates[0])


def read_results(results) -> tuple[Results, dict]:
    """The checked results of a file with where they came from ({file, sha256}). A board's figures are
    derived from a file's per-image outcomes and name that file, so a dict (no file) or a file without
    outcomes is refused in one line."""
    if isinstance(results, dict):
        raise BadInput(
            "a leaderboard entry names the results file its figures come from: write the results to a file "
            "(sam-bench evaluate --out FILE) and add that file"
        )
    pinned = results if isinstance(results, PinnedResults) else pin(results)  # read once, hashed from those bytes
    path, data = pinned.path, pinned.json()
    results_file.check(data, str(path))  # another kind of file, or results of another version, refused in one line
    checked = Results(data, path)
    if not checked.verified:
        raise BadInput(f"{path}: not added to a leaderboard: {checked.unverified}")
    return checked, {"file": shown_path(path), "sha256": pinned.sha256}


def _check_data(results: Results, entry: ZooEntry, where: str) -> None:
    """The results are on the model's own data set family, real images, its test set as it is: its size, and its
    sha256 where the zoo entry records that data set (the model was trained on it)."""
    data = results.dataset
    trained = (entry.training or {}).get("dataset") or {}
    known = TEST_SET_SIZE.get(data.name) or (trained.get("n_test") if trained.get("name") == data.name else None)
    if known is not None and data.n_test_total != known:
        raise SamBenchError(
            f"{where}: the {data.name} test set has {known:,} images, the results say {data.n_test_total:,}; "
            f"{results_file.FIX}"
        )
    if trained.get("name") == data.name and trained.get("sha256") not in (None, data.sha256):
        raise SamBenchError(
            f"{where}: the results' {data.name} data (sha256 {str(data.sha256)[:12]}) are not the copy "
            f"{entry.id} was trained with ({trained['sha256'][:12]}); evaluate on that copy"
        )
    if data.family != entry.dataset:
        raise BadInput(f"results are on {data.family} data, but {entry.id} is a {entry.dataset} model")
    if data.name.startswith("synthetic"):
        raise BadInput("results are on synthetic data; a leaderboard takes CIFAR evaluations only")


def _entry_for(results: Mapping, zoo_dir) -> ZooEntry:
    """The zoo entry these results belong to; refused unless they evaluated its exact weights."""
    model = Results.of(results).model
    sha = model.weights_sha256
    if model.zoo_id:
        entry = zoo.find_entry(model.zoo_id, zoo_dir)
    else:  # a run or checkpoint evaluated directly: fine if the zoo holds the very same file
        matches = [e for e in zoo.list_entries(zoo_dir=zoo_dir) if e.weights_sha256 == sha]
        if not matches:
            raise BadInput(
                f"the evaluated weights ({model.ref}, sha256 {str(sha)[:12]}) are in no zoo "
                "entry; add the model with `sam-bench zoo add` and evaluate the zoo id"
            )
        entry = matches[0]
    if sha != entry.weights_sha256:
        raise BadInput(
            f"results are for weights with sha256 {str(sha)[:12]}, but zoo entry {entry.id} holds "
            f"{entry.weights_sha256[:12]}; evaluate the zoo entry itself"
        )
    return entry


def is_board_autoattack(ev: Evaluation, board: Board, test_set: str | None = None) -> bool:
    """Whether the evaluation ranks the board (`budgets.Board.takes`; the row says which version scored it)."""
    return board.takes(ev.attack, ev.norm, ev.eps, ev.settings.get("version"), test_set)


def column_record(ev: Evaluation, source: dict, precision: str = "fp32") -> dict:
    """An entry's figures of a column attack (kept under its name) from one evaluation's per-image outcomes, naming
    the results file they come from and the precision they were computed in."""
    n, clean = _checked(ev)
    return {
        "norm": ev.norm,
        "eps": ev.eps,
        "steps": ev.settings.get("steps"),
        "step_size": ev.settings.get("step_size"),
        "restarts": ev.settings.get("restarts"),
        "clean_acc": percent(clean),
        "robust_acc": percent(ev.robust_acc),
        "robust_acc_ci95": interval(ev.robust_acc, n),
        "n_examples": n,
        **({"precision": precision} if precision != "fp32" else {}),
        "results_file": source["file"],
        "results_sha256": source["sha256"],
    }


def strength(record: dict) -> tuple:
    """How strong a board figure's evaluation is, for which of two replaces the other, whatever their dates:
    AutoAttack's standard version first, fp32 before a lower precision (it can weaken gradient attacks), more images."""
    standard = record.get("version", "standard") == "standard"
    return standard, record.get("precision", "fp32") == "fp32", record["n_examples"]


def autoattack_record(ev: Evaluation, results: Results, source: dict) -> dict:
    """An entry's AutoAttack block from the board's AutoAttack evaluation's outcomes, naming its results file."""
    data = results.dataset
    n, clean = _checked(ev)
    return {
        "n_examples": n,
        "n_test_total": data.n_test_total,
        "test_set": data.name,
        "test_set_sha256": data.sha256,
        "version": ev.settings["version"],
        "attacks": ev.settings.get("attacks"),
        "attack_reported_acc": ev.attack_reported_acc,
        "clean_acc_ci95": interval(clean, n),
        "autoattack_acc_ci95": interval(ev.robust_acc, n),
        "seconds": ev.seconds,
        "precision": results.precision,
        "search_math": results.search_math,  # how the attack searched
        "device_name": results.environment.get("device_name"),
        "results_file": source["file"],
        "results_sha256": source["sha256"],
    }


def autoattack_figures(ev: Evaluation) -> dict:
    """The RobustBench fields an AutoAttack evaluation gives (percent strings)."""
    return {
        "clean_acc": percent(_checked(ev)[1]),
        "reported": percent(ev.robust_acc),
        "autoattack_acc": percent(ev.robust_acc),
    }


def _checked(ev: Evaluation) -> tuple[int, float]:
    """(images, clean accuracy) of an evaluation of a checked results file, which names both."""
    assert ev.n_examples is not None and ev.clean_acc is not None, "a checked results file's evaluation names both"
    return ev.n_examples, ev.clean_acc


def _footnote(entry: ZooEntry, aa: AutoAttackFigures) -> str:
    version = ""
    if not entry.is_trained_elsewhere and aa.version != "standard":
        version = f" ({aa.version_text}, not the standard version)"
    stored = entry.weights.dtype
    evaluated = images_text(aa.n_examples, aa.n_test_total, aa.test_set)
    return f"{training_text(entry)}; AutoAttack{version} on {evaluated}; weights stored as {stored}."


def training_text(entry: ZooEntry) -> str:
    """Who trained a model and how, as a board's footnote and a RobustBench submission say it: a run of sam-bench
    from its training record, a model trained elsewhere in its importer's words (trained_elsewhere_text)."""
    if entry.trained_elsewhere is not None:
        return trained_elsewhere_text(entry)
    assert entry.training is not None and entry.training_config is not None  # the schema: one of the two
    cfg = entry.training_config
    trained, used = entry.trained_on, entry.training.get("n_train_used")
    if trained == "cifar10-sample":
        data = f"{used:,} images of the bundled CIFAR-10 sample" if used else "the bundled CIFAR-10 sample"
    else:
        data = trained if not used else f"{used:,} {trained} training images"
    epochs = f"{cfg['epochs']} epoch" + ("s" if cfg["epochs"] != 1 else "")
    return f"Trained by sam-bench ({zoo.method_name(cfg)}, {epochs} on {data})"


def images_text(n: int, total: int | None, test_set: str) -> str:
    """The test images a figure was measured on, as a footnote says it."""
    if n == total == TEST_SET_SIZE.get(test_set):
        return f"the full {test_set} test set"
    return f"the first {n:,}" + (f" of {total:,}" if total else "") + f" {test_set} test images"


def trained_elsewhere_text(entry: ZooEntry) -> str:
    """What a board says of a model trained elsewhere (sam_bench.zoo.imported): its importer's words and source,
    never a figure published for it (those are claims the project has not measured)."""
    told = entry.trained_elsewhere or {}
    return f"Trained elsewhere, not by sam-bench ({told['description']}; {told['source']}; data: {told['data']})"


def described(entry: ZooEntry) -> dict:
    """RobustBench's fields that describe a model, from its zoo entry alone (every board's entry opens with them;
    the budget and the accuracies follow)."""
    paper = entry.paper or {}
    return {
        "link": paper.get("link", ""),
        "name": paper.get("name", entry.id),
        "authors": paper.get("authors", ""),
        "additional_data": imported.additional_data(entry),  # None: unknown, shown so, never as false
        "number_forward_passes": 1,
        "dataset": entry.dataset,
        "venue": paper.get("venue") or "N/A",
        "architecture": entry.architecture,
    }


def model_info(entry: ZooEntry, previous: dict | None = None, board: Board | None = None) -> dict:
    """The fields the zoo entry gives (accuracies come from results), for `board` (default: its RobustBench board)."""
    board = board or budgets.robustbench_board(entry.threat_model)
    previous = previous or {}
    kept = {key: previous[key] for key in ("clean_acc", "reported", "autoattack_acc", "footnote") if key in previous}
    info = {**described(entry), "eps": board.eps, **kept}
    extras = {
        **previous.get("sam_bench", {}),
        "model_id": entry.id,
        "weights_sha256": entry.weights_sha256,
        "method": entry.method,
        "trained_on": entry.trained_on,
        "training_cost": entry.training_cost,
    }
    if entry.is_trained_elsewhere:
        extras["trained_elsewhere"] = trained_elsewhere_text(entry)
    guard = (entry.training or {}).get("overfit_guard")
    if guard and guard.get("collapsed"):  # sam_bench.training.guard: the run's PGD accuracy collapsed in training
        extras["collapsed"] = f"catastrophic overfitting from epoch {guard['epoch']}"
    for attack in attack_table.columns():
        extras.setdefault(attack.name, [])
    extras.setdefault("sources", [])
    info["sam_bench"] = extras
    return info


def write_entries(results: list, leaderboard_dir=None, zoo_dir=None) -> list[list[tuple[Path, bool]]]:
    """The entries of several results files (paths or PinnedResults, measured again already where the caller
    publishes: publication), all or none: with the boards locked, every file's checks pass before the first entry is
    written, and a killed writer's temporaries are removed. Per file: (entry path, changed) per board it reaches."""
    root = boards_dir(leaderboard_dir)
    with files.locked(root):
        for leftover in root.glob("*/*/.*"):
            if files.is_temporary(leftover):
                leftover.unlink(missing_ok=True)
        done, pending = _plan(results, leaderboard_dir, zoo_dir)
        changed = {path for path in pending if not _stands(path, pending)}
        for path in changed:
            files.write_json(path, pending[path])
        return [[(path, path in changed) for path in paths] for paths, _ in done]


def planned(results: list, leaderboard_dir=None, zoo_dir=None) -> list[tuple[ZooEntry, bool]]:
    """Every check a board makes of the results files, one after another (a later file may rest on an earlier one:
    PGD figures beside its AutoAttack; nothing written); per file, its zoo entry and whether every board entry it
    reaches holds exactly what it would write already: the board stands on these very bytes then, so adding it
    again publishes nothing and needs no check (`sam-bench verify` checks what is published)."""
    done, pending = _plan(results, leaderboard_dir, zoo_dir)
    return [(entry, bool(paths) and all(_stands(path, pending) for path in paths)) for paths, entry in done]


def _stands(path: Path, pending: dict[Path, dict]) -> bool:
    """The board entry at `path` holds what the files would write there (nothing, where none of them changes it:
    the board holds bigger evaluations)."""
    return path.is_file() and (path not in pending or files.read_json(path) == pending[path])


def _plan(results: list, leaderboard_dir, zoo_dir) -> tuple[list[tuple[list[Path], ZooEntry]], dict[Path, dict]]:
    """Each file's (entry paths, one per board it reaches; zoo entry) and the entries as they would be written,
    each file merged into what the ones before it made."""
    pending: dict[Path, dict] = {}
    done = [_update_from_results(one, pending, leaderboard_dir, zoo_dir) for one in results]
    return done, pending


def entry_path(dataset: str, board: Board, model_id: str, leaderboard_dir=None) -> Path:
    return boards_dir(leaderboard_dir) / dataset / board.folder / f"{model_id}.json"


def _update_from_results(results, pending: dict[Path, dict], leaderboard_dir, zoo_dir) -> tuple[list[Path], ZooEntry]:
    """Merge the results into the entry of every board they reach, kept in `pending` (read from there where earlier
    results put it): a board whose AutoAttack they hold, and one that ranks the model already (its column attacks'
    columns). Every figure is derived from the file's per-image outcomes and names the file (and its sha256) it came
    from. Returns the entries' paths and the model's zoo entry."""
    checked, source = read_results(results)
    entry = _entry_for(checked, zoo_dir)
    _check_data(checked, entry, source["file"])
    reached = []
    for board in budgets.boards_of(entry.threat_model):
        path = entry_path(entry.dataset, board, entry.id, leaderboard_dir)
        previous = copy.deepcopy(pending[path]) if path in pending else read_entry(path) if path.is_file() else None
        if previous and previous.get("sam_bench", {}).get("weights_sha256") != entry.weights_sha256:
            previous = None  # written for other weights under this id: start over
        info = model_info(entry, previous, board)
        ranked, changed = _merge(info, checked, source, entry, board)
        if not ranked and (previous is None or "autoattack_acc" not in info):
            continue  # no AutoAttack of this board's, in these results or before: not a row of it
        reached.append(path)
        if not changed:
            log.info("%s: the leaderboard already holds bigger evaluations than %s", path, source["file"])
        else:
            pending[path] = _ordered(info, {**source, "created": checked.get("created")})
    if not reached:
        tm = entry.threat_model
        board_eps = threat_model_record(tm).robustbench_budget
        column = [attack_table.attack(ev.attack) for ev in checked.evaluations if attack_table.is_column(ev.attack)]
        raise BadInput(
            f"{entry.id} has no AutoAttack (standard) result at a board's budget ({budgets.budgets_text()})"
            + (f" to rank its row by; {column[0].display} joins a row that AutoAttack ranks" if column else "")
            + f"; run sam-bench evaluate {entry.id} --attack autoattack --norm {tm} --eps {board_eps} "
            "(or a small budget, e.g. --eps 2/255) first"
        )
    return reached, entry


def _merge(info: dict, results: Results, source: dict, entry: ZooEntry, board: Board) -> tuple[bool, bool]:
    """Merge the results' AutoAttack at the board's budget and their column attacks' into `info`: (any AutoAttack
    of the board's, any changed). A stronger evaluation of the same kind replaces a weaker one (`strength`);
    equally strong: the newer wins."""
    test_set = results.dataset.name
    ranked = changed = False
    for ev in results.evaluations:
        board_aa = is_board_autoattack(ev, board, test_set)
        ranked |= board_aa
        if board_aa:
            changed |= _merge_autoattack(info, ev, results, source, entry, board)
        elif attack_table.is_column(ev.attack):
            changed |= _merge_column(info["sam_bench"], ev, source, results.precision)
    return ranked, changed


def _merge_autoattack(
    info: dict, ev: Evaluation, results: Results, source: dict, entry: ZooEntry, board: Board
) -> bool:
    extras = info["sam_bench"]
    old, new = extras.get("autoattack"), autoattack_record(ev, results, source)
    if old and strength(old) > strength(new):
        return False  # a quicker version, a lower precision or fewer images never replaces a stronger evaluation
    extras["autoattack"] = new
    info.update(autoattack_figures(ev))
    info["footnote"] = _footnote(entry, _read(AutoAttackFigures, new))
    extras["degenerate"] = degenerate.reason(results)
    if board.robustbench:  # the results' RobustBench summary is at RobustBench's budget
        _cross_check(results.robustbench, info, board.norm)
    return True


def _merge_column(extras: dict, ev: Evaluation, source: dict, precision: str) -> bool:
    record, kept = column_record(ev, source, precision), extras[ev.attack]
    same = [p for p in kept if column_key(p) == column_key(record)]
    if same and strength(same[0]) > strength(record):
        return False
    extras[ev.attack] = [p for p in kept if p not in same] + [record]
    return True


def column_key(record: dict) -> tuple:
    """What makes two figures of a column attack the same measurement (the bigger or newer one is kept)."""
    return (record["norm"], record["eps"], record["steps"], record["restarts"])


@dataclass(frozen=True)
class ColumnFigure:
    """A figure of a column attack as an entry holds it (a `column_record`), read once for a board's rows."""

    attack: Attack
    norm: str
    eps: str
    robust_acc: str
    steps: int | None = None
    n_examples: int | None = None
    precision: str = "fp32"
    results_sha256: str | None = None

    @property
    def column(self) -> tuple[Attack, str, str, int | None]:
        """The board column it fills: its attack, norm, budget and steps."""
        return self.attack, self.norm, self.eps, self.steps


def _read(cls: type[R], data: Mapping, **given) -> R:
    """A `cls` of the fields `data` holds (one it lacks or holds as None takes its readers' default) and `given`."""
    read = {f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None}  # type: ignore[arg-type]
    return cls(**{**read, **given})


@dataclass(frozen=True)
class AutoAttackFigures:
    """An entry's AutoAttack block (an `autoattack_record`), read by name."""

    n_examples: int
    test_set: str
    n_test_total: int | None = None
    version: str = "standard"
    attacks: list[str] = field(default_factory=list)
    precision: str = "fp32"
    search_math: str = "ieee"
    device_name: str | None = None
    results_sha256: str | None = None

    @property
    def version_text(self) -> str:
        """'standard', or the attacks of another version, e.g. 'custom: apgd-ce, apgd-t'."""
        return self.version if self.version == "standard" else f"{self.version}: {', '.join(self.attacks)}"


@dataclass(frozen=True, kw_only=True)
class BoardEntry:
    """A board entry as a board's rows, pages and checks read it (`of`, once): RobustBench's fields and ours (under
    `sam_bench`) by name, the entry as written (`info`: the evidence check compares it field by field), and what
    the render's checks add for its row."""

    model_id: str  # its file's name
    info: dict
    clean_acc: str
    autoattack_acc: str
    name: str = ""
    footnote: str = ""
    additional_data: bool | None = None  # None: unknown
    architecture: str = ""
    venue: str = ""
    method: str = ""
    weights_sha256: str | None = None
    trained_on: str | None = None
    training_cost: dict = field(default_factory=dict)
    trained_elsewhere: str | None = None
    degenerate: str | None = None
    collapsed: str | None = None
    autoattack: AutoAttackFigures | None = None
    figures: list[ColumnFigure] = field(default_factory=list)  # every column attack's
    sources: list[dict] = field(default_factory=list)
    retired: dict | None = None  # retire.py's note
    seed: int | None = None  # the training seed of the weights measured, where the evidence check found one
    full_rerun: str | None = None  # its last full re-run in words (full_reruns.py)
    checked_for: str | None = None  # how far a spot check checks its figures, in words (checked_for.py)

    @classmethod
    def of(cls, info: dict, model_id: str) -> BoardEntry:
        """The record of an entry as written (`read_entry`'s), kept in file `<model_id>.json`."""
        ours = info["sam_bench"]
        aa = ours.get("autoattack")
        figures = [_read(ColumnFigure, p, attack=a) for a in attack_table.columns() for p in ours.get(a.name, [])]
        given = {**info, **ours, "info": info, "figures": figures}
        return _read(cls, given, model_id=model_id, autoattack=_read(AutoAttackFigures, aa) if aa else None)

    @property
    def on_sample(self) -> bool:
        """Trained on, or scored on, the bundled sample rather than the real data set."""
        return SAMPLE_TEST_SET in (self.trained_on, self.autoattack and self.autoattack.test_set)


ENTRY_ORDER = (
    "model_id",
    "weights_sha256",
    "method",
    "trained_on",
    "training_cost",
    "trained_elsewhere",
    "degenerate",
    "collapsed",
    "autoattack",
    attack_table.COLUMN,  # each column attack's figures, under its name
    "sources",
    "retired",
)


def _ordered(info: dict, source: dict) -> dict:
    """The entry as it is written: its sources, its column figures sorted, its keys in their order."""
    extras = info["sam_bench"]
    columns = [attack.name for attack in attack_table.columns()]
    for name in columns:
        extras[name].sort(key=lambda p: (p["norm"], parse_eps(p["eps"]), p["steps"] or 0))
    extras["sources"] = sources(extras, source)
    ordered = {k: info[k] for k in MODEL_INFO_KEYS if k in info}
    keys = [k for key in ENTRY_ORDER for k in (columns if key == attack_table.COLUMN else [key])]
    ordered["sam_bench"] = {k: extras[k] for k in keys if k in extras}
    return ordered


def figure_refs(extras: dict) -> list[tuple[str | None, str | None]]:
    """(results file, sha256) of each figure group of an entry: its AutoAttack block, then each column attack's
    record ((None, None) for a record written before figures named their file)."""
    columns = [p for attack in attack_table.columns() for p in extras.get(attack.name, [])]
    groups = ([extras["autoattack"]] if extras.get("autoattack") else []) + columns
    return [(g.get("results_file"), g.get("results_sha256")) for g in groups]


def sources(extras: dict, new: dict) -> list[dict]:
    """The results files the entry's figures come from, each once ({file, sha256, created}): the earlier
    ones still named by a figure, in their order, then the new one if a figure names it. While a figure
    written before figures named their file remains, no earlier source is dropped."""
    refs = figure_refs(extras)
    legacy = any(file is None for file, _ in refs)
    named = {sha for _, sha in refs}
    kept = [s for s in extras.get("sources", []) if legacy or s["sha256"] in named]
    if new["sha256"] in named and new["sha256"] not in [s["sha256"] for s in kept]:
        kept.append(new)
    return kept


def _cross_check(rb: Mapping | None, info: dict, tm: str) -> None:
    # evaluate's own RobustBench summary must agree with what we derived from its evaluations
    if not rb or rb.get("threat_model") != tm:
        return
    for key in ("clean_acc", "autoattack_acc"):
        if key in rb and abs(float(rb[key]) - float(info[key])) > 0.006:
            raise SamBenchError(
                f"results disagree with themselves: robustbench.{key} is {rb[key]}, "
                f"the AutoAttack evaluation says {info[key]}"
            )


def read_entry(path: Path) -> dict:
    """A leaderboard entry, refused in one line unless it fits the leaderboard-entry schema."""
    return schema.check(
        "leaderboard-entry",
        files.read_json(path),
        str(path),
        fix="restore it (e.g. git checkout) or write it again with sam-bench leaderboard add <results file>",
    )


def load_board(dataset: str, board: str, leaderboard_dir=None) -> list[BoardEntry]:
    """The entries of one board (its folder: 'Linf-2-255'), best first (AutoAttack, then clean accuracy)."""
    folder = boards_dir(leaderboard_dir) / dataset / board
    models = [BoardEntry.of(read_entry(path), path.stem) for path in sorted(folder.glob("*.json"))]
    models.sort(key=lambda m: (-float(m.autoattack_acc), -float(m.clean_acc), m.model_id))
    return models


def boards(leaderboard_dir=None, dataset=None, threat_model=None, folders=None) -> list[tuple[str, str]]:
    """(dataset, board folder) of every board with entries, RobustBench's first; `threat_model` keeps a norm's
    boards, `folders` the boards named."""
    root = boards_dir(leaderboard_dir)
    order = [b.folder for b in budgets.all_boards()]
    # a folder of no eps board (a threat model's own boards, leaderboard/own_boards.py) is rendered by its module
    found = {(p.parent.parent.name, p.parent.name) for p in root.glob("*/*/*.json") if p.parent.name in order}
    return [
        (d, f)
        for d, f in sorted(found, key=lambda k: (k[0], order.index(k[1])))
        if (not dataset or d == dataset)
        and (not threat_model or budgets.board_named(f).norm == threat_model)
        and (folders is None or f in folders)
    ]
