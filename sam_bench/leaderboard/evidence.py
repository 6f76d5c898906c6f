"""A board entry checked against its evidence before it is shown (rendered or submitted): every figure
recomputed from the per-image outcomes of the results file it names (`evaluation.results_record.Results`), that
file having the sha256 the entry records: the AutoAttack figures from the file `autoattack.results_file` names, each
column attack's record from its own `results_file`. An entry edited by hand (`autoattack_acc` set to "99.5"), or
whose results file changed or went, is refused in one line; `sam-bench leaderboard add <results file>` writes it
again from the evidence.
"""

from __future__ import annotations

from dataclasses import replace

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import attack_table, degenerate
from sam_bench.evaluation.attack_table import Attack
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.leaderboard import budgets
from sam_bench.leaderboard.budgets import Board
from sam_bench.leaderboard.entries import (
    BoardEntry,
    autoattack_figures,
    autoattack_record,
    boards_dir,
    column_key,
    column_record,
    is_board_autoattack,
    results_path,
)

FIX = "restore the entry (e.g. git checkout) or write it again with sam-bench leaderboard add <results file>"
REFS = ("results_file", "results_sha256")


def check_board(models: list[BoardEntry], dataset: str, board: str, leaderboard_dir=None) -> list[BoardEntry]:
    """Every entry of a board (`board`: its folder) agrees with its evidence, or a one-line SamBenchError; the
    entries, each with the training seed of its weights (`check_entry`)."""
    where = boards_dir(leaderboard_dir) / dataset / board
    return [
        replace(m, seed=check_entry(m.info, board, str(where / f"{m.model_id}.json"), leaderboard_dir)) for m in models
    ]


def check_entry(info: dict, board: str, where: str, leaderboard_dir=None) -> int | None:
    """The entry's figures are the ones its results files' per-image outcomes give (`board`: its board's folder);
    the training seed of the weights they measured (None where the results record none: trained elsewhere)."""
    extras = info["sam_bench"]
    evidence = _Evidence(extras, where, leaderboard_dir)
    if extras.get("autoattack"):
        _check_autoattack(info, budgets.board_named(board), evidence)
    for attack in attack_table.columns():
        for record in extras.get(attack.name, []):
            _check_column(attack, record, evidence)
    return next((results.model.seed for results in evidence.read.values()), None)


class _Evidence:
    """The results files an entry names, each read, checked and sha256-compared once."""

    def __init__(self, extras: dict, where: str, leaderboard_dir):
        self.extras, self.where, self.leaderboard_dir = extras, where, leaderboard_dir
        self.read: dict[str, Results] = {}

    def source(self, group: dict) -> tuple[str, str]:
        """(file, sha256) a figure group names; an entry written before figures named their file falls back
        on its one source (or, for AutoAttack, the source with its results_sha256)."""
        if group.get("results_file"):
            return group["results_file"], group["results_sha256"]
        known = self.extras.get("sources", [])
        matching = [s for s in known if s.get("sha256") == group.get("results_sha256")] or (
            known if len(known) == 1 else []
        )
        if not matching or not matching[0].get("file"):
            raise SamBenchError(f"{self.where}: names no results file for its figures; {FIX}")
        return matching[0]["file"], matching[0]["sha256"]

    def results(self, group: dict) -> tuple[Results, dict]:
        file, sha = self.source(group)
        if file not in self.read:
            self.read[file] = self._load(file, sha)
        return self.read[file], {"file": file, "sha256": sha}

    def _load(self, file: str, sha: str) -> Results:
        path = results_path(file, self.leaderboard_dir)
        if not path.is_file():
            raise SamBenchError(f"{self.where}: its figures come from {file}, which is not there; {FIX}")
        actual = files.sha256_file(path)
        if actual != sha:
            raise SamBenchError(
                f"{self.where}: {file} changed after the entry was written from it (sha256 {actual[:12]}, the "
                f"entry names {sha[:12]}); write the entry again with sam-bench leaderboard add {file}"
            )
        results = Results.read(path)
        if not results.verified:
            raise SamBenchError(f"{self.where}: {file} cannot be shown: {results.unverified}")
        weights = results.model.weights_sha256
        if weights != self.extras.get("weights_sha256"):
            raise SamBenchError(
                f"{self.where}: is for weights sha256 {str(self.extras.get('weights_sha256'))[:12]}, but {file} "
                f"evaluated {str(weights)[:12]}; {FIX}"
            )
        return results


def _check_autoattack(info: dict, board: Board, evidence: _Evidence) -> None:
    extras = info["sam_bench"]
    results, source = evidence.results(extras["autoattack"])
    test_set = results.dataset.name
    candidates = [ev for ev in results.evaluations if is_board_autoattack(ev, board, test_set)]
    if not candidates:
        raise SamBenchError(
            f"{evidence.where}: {source['file']} holds no AutoAttack evaluation at the board's budget; {FIX}"
        )
    _agrees_with_one([_autoattack_differences(info, ev, results, source) for ev in candidates], evidence, source)


def _agrees_with_one(found: list[list[tuple]], evidence: _Evidence, source: dict, label: str = "") -> None:
    """Refuses the entry unless one candidate evaluation left no difference (`found`: each one's differences)."""
    if any(not d for d in found):
        return
    key, shown, derived = found[-1][0]
    raise SamBenchError(
        f"{evidence.where}: {label}{key} is {shown!r}, derived from {source['file']} it is {derived!r}; {FIX}"
    )


def _autoattack_differences(
    info: dict, ev: Evaluation, results: Results, source: dict
) -> list[tuple[str, object, object]]:
    """(field, in the entry, from the evidence) for every figure that disagrees ([] when none does)."""
    extras = info["sam_bench"]
    rebuilt = autoattack_record(ev, results, source)
    figures = autoattack_figures(ev)  # the ranking figure first: it is the one an edit would be made for
    wanted = {"autoattack_acc": figures.pop("autoattack_acc"), **figures, "degenerate": degenerate.reason(results)}
    out = [
        (k, info[k] if k != "degenerate" else extras.get(k), v) for k, v in wanted.items() if k in info or k in extras
    ]
    out += [(f"autoattack.{k}", extras["autoattack"][k], rebuilt.get(k)) for k in extras["autoattack"] if k not in REFS]
    return [(k, shown, derived) for k, shown, derived in out if shown != derived]


def _check_column(attack: Attack, record: dict, evidence: _Evidence) -> None:
    results, source = evidence.results(record)
    label = f"{attack.display} {record['norm']} {record['eps']}"
    rebuilt = [column_record(ev, source) for ev in results.evaluations if ev.attack == attack.name]
    candidates = [r for r in rebuilt if column_key(r) == column_key(record)]
    if not candidates:
        raise SamBenchError(f"{evidence.where}: {source['file']} holds no {label} evaluation; {FIX}")
    found = [[(k, record[k], c.get(k)) for k in record if k not in REFS and record[k] != c.get(k)] for c in candidates]
    _agrees_with_one(found, evidence, source, f"{label}: ")
