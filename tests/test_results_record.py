"""The typed results record: a results file read and checked once, then asked for its
evaluations (by attack, budget, AutoAttack version, first N images) and budgets; a reproduction folder
loaded once for the report and its summary; no reader indexes the attacks' entries itself."""

import json
import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.report.folder import Folder
from sam_bench.training.config import TrainConfig

ROOT = Path(__file__).parent.parent
DECISIVE = ROOT / "reproductions" / "paper-cifar10-cpu-decisive"


def test_a_committed_results_file_answers_by_attack_budget_and_images():
    path = next((DECISIVE / "results").glob("AT-Linf-8-*.json"))
    results = Results.read(path)
    assert results.path == path and len(results.sha256 or "") == 64
    pgd = results.evaluation("pgd", "Linf", "8/255")
    assert isinstance(pgd, Evaluation) and pgd.n_examples == 2000 and pgd.settings["steps"] == 10
    assert results.evaluation("pgd", "Linf", "3/255") is None
    assert results.evaluation("autoattack", "Linf", "8/255", version="standard").n_examples == 1000
    assert results.evaluation("autoattack", "Linf", "8/255", version="custom") is None
    first = results.evaluation("pgd", "Linf", "8/255", images=500)
    assert first.n_examples == 500 and first.robust_acc == pytest.approx(outcomes.decode(pgd.outcomes)[:500].mean())
    assert (first.attack, first.norm, first.eps, first.settings) == (pgd.attack, pgd.norm, pgd.eps, pgd.settings)
    assert first.clean_acc is None and first.seconds is None  # the whole's figures are not the part's
    assert results.evaluation("pgd", "Linf", "8/255", images=5000) is None  # it covers fewer
    clean = results.evaluation("clean")
    assert clean.attack == "clean" and clean.robust_acc == results["clean_acc"] and clean.n_examples == 2000
    assert [b[:2] for b in results.budgets("pgd")] == [
        ("Linf", "1/255"),
        ("Linf", "2/255"),
        ("Linf", "4/255"),
        ("Linf", "8/255"),
        ("L2", "16/255"),
        ("L2", "32/255"),
    ]
    assert results.budgets("autoattack") == [
        ("Linf", "8/255", {"version": "standard", "attacks": ("apgd-ce", "apgd-t", "fab-t", "square")})
    ]
    assert results.verified and results.evaluation_seconds > 0


def test_a_folders_runs_are_records_asked_by_name():
    """Each run of a folder is made once into a RunRecord: its settings a TrainConfig, its results a Results whose
    entries are Evaluations, its training what the results file and the run folder say; none can be changed."""
    folder = Folder.load(DECISIVE)
    record = next(r for r in folder.records if r.name.startswith("AT-Linf-8") and r.seed == 0)
    written = json.loads(record.path.read_text())
    assert isinstance(record.config, TrainConfig) and record.config == TrainConfig.from_dict(
        written["model"]["training"]["config"]
    )
    assert record.method == "at" and record.key in record.path.name and record.primary
    assert record.training.wall_time_s == written["model"]["training"]["wall_time_s"]
    run = DECISIVE / "runs" / f"{record.name}-{record.key}"
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert record.training.epoch_seconds == tuple(e["seconds"] for e in logged)
    assert record.training.cpu_s == pytest.approx(sum(e["cpu_seconds"] for e in logged))
    entries = record.results.evaluations
    assert all(isinstance(ev, Evaluation) for ev in entries)
    assert [(ev.attack, ev.norm, ev.eps, ev.seconds) for ev in entries] == [
        (e["attack"], e["norm"], e["eps"], e["seconds"]) for e in written["evaluations"]
    ]
    with pytest.raises(FrozenInstanceError):
        record.seed = 1
    with pytest.raises(FrozenInstanceError):
        entries[0].robust_acc = 1.0


def test_an_edited_figure_is_refused_where_the_file_is_read(tmp_path):

    path = next((DECISIVE / "results").glob("ST-*.json"))
    data = json.loads(path.read_text())
    data["clean_acc"] = 0.99
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(SamBenchError, match="clean_acc is 0.99, its per-image outcomes give"):
        Results.read(tmp_path / "r.json")


def test_a_folder_is_loaded_once_and_judged_once(monkeypatch):
    from sam_bench.report import claims

    folder = Folder.load(DECISIVE)
    assert len(folder.records) == 24 and folder.plan["scale"] == "cpu-decisive"
    assert all(isinstance(r.results, Results) for r in folder.records)
    calls = []
    honest = claims.verdicts
    monkeypatch.setattr(claims, "verdicts", lambda *a, **k: calls.append(1) or honest(*a, **k))
    first, second = folder.verdicts, folder.verdicts
    assert first is second and len(calls) == 1  # one architecture, judged once
    assert folder.budget_sentence("Together with the pilot", "Together").startswith("Together with the pilot")


def test_no_reader_indexes_the_attacks_entries_itself():
    """Only the writer (evaluate), the checker (results_file) and the record itself touch a results file's
    `evaluations`; a recheck record's own `evaluations` (its entries) are another file type."""
    allowed = {"evaluation/evaluate.py", "evaluation/results_file.py", "evaluation/results_record.py"}
    pattern = re.compile(r"""(results|\["results"\]|\bresult|\br)\[["']evaluations["']\]""")
    found = [
        f"{p.relative_to(ROOT / 'sam_bench')}:{i}"
        for p in sorted((ROOT / "sam_bench").rglob("*.py"))
        if str(p.relative_to(ROOT / "sam_bench")) not in allowed
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_a_dict_a_test_chose_is_asked_the_same_way():
    flags = np.array([True, False, True, True])
    data = {
        "clean_acc": 0.75,
        "clean_outcomes": outcomes.encode(flags),
        "dataset": {"n_examples": 4},
        "evaluations": [
            {"attack": "pgd", "norm": "L2", "eps": "0.5", "eps_value": 0.5, "robust_acc": 0.5, "n_examples": 4}
        ],
    }
    results = Results.of(data)
    assert Results.of(results) is results and results["clean_acc"] == 0.75
    assert results.evaluation("pgd", "L2", "0.5").robust_acc == 0.5
    assert results.evaluation("clean", images=2).robust_acc == 0.5


def test_a_results_file_answers_typed_properties():
    path = next((DECISIVE / "results").glob("AT-Linf-8-*.json"))
    raw, results = json.loads(path.read_text()), Results.read(path)
    assert (
        results.model.weights_sha256 == raw["model"]["weights_sha256"]
        and results.model.zoo_id == raw["model"]["zoo_id"]
    )
    assert results.model.training_config == raw["model"]["training"]["config"]
    assert (results.dataset.name, results.dataset.n_examples) == (raw["dataset"]["name"], raw["dataset"]["n_examples"])
    assert results.dataset.sha256 == raw["dataset"]["sha256"] and results.dataset.n_test_total == 10000
    assert results.precision == raw["precision"] and results.environment == raw["environment"]
    assert results.robustbench == raw["robustbench"] and results.clean_outcomes == raw["clean_outcomes"]


def test_readers_ask_results_by_property_not_by_key():
    """String-key reads of a results file (`results["dataset"]`, `r.results.get("model")`) outside its reader
    (results_record), its checker (results_file) and its writer (evaluate) are at most 5 in the package: the
    spot check's (rewritten elsewhere), the zoo's (below evaluation: it reads the raw file) and the grid
    runner's test of a file that may be broken."""
    allowed = {"evaluation/evaluate.py", "evaluation/results_file.py", "evaluation/results_record.py"}
    pattern = re.compile(r"""\bresults(\.results)?(\[["'][a-z_]+["']\]|\.get\(["'][a-z_]+["'])""")
    found = [
        f"{p.relative_to(ROOT / 'sam_bench')}:{i}"
        for p in sorted((ROOT / "sam_bench").rglob("*.py"))
        if str(p.relative_to(ROOT / "sam_bench")) not in allowed
        and "analysis/theory" not in str(p)
        and p.name != "theory.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        for _ in pattern.finditer(line)
        if not re.search(r"""\bresults\[["'][a-z_]+["']\] = """, line)  # a write is no read
    ]
    assert len(found) <= 5, found


def _string_key_reads():
    import importlib.util

    spec = importlib.util.spec_from_file_location("string_key_reads", ROOT / "tools" / "string_key_reads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_count_follows_zoo_and_plan_entries_and_leaves_board_entries_out():
    """The counter of string-key reads finds a zoo entry through the calls that return one and the functions it
    is passed to, a plan entry through plan["models"], and counts neither a board entry nor a reader's reads."""
    tool = _string_key_reads()
    texts = {
        "leaderboard/x.py": (
            "from sam_bench.zoo import store\n"
            "def show(entry):\n    return entry['id'], entry.get('method')\n"
            "def board(entry):\n    return entry['clean_acc']\n"
            "def main(zoo_dir, info):\n"
            "    found = store.find_entry('X', zoo_dir)\n"
            "    board(info)\n"
            "    return show(found), found['weights']['sha256']\n"
        ),
        "report/y.py": "def f(folder):\n    return [m['name'] for m in folder.plan['models']], folder.plan['scale']\n",
        "report/z.py": "def first(runs):\n    return runs[0]['key']\ndef g(plan):\n    return first(plan['models'])\n",
        "zoo/store.py": "def find_entry(model_id, zoo_dir):\n    entry = {}\n    return entry['id']\n",
    }
    reads = tool.reads(texts)
    assert sorted((path, text) for path, _, text in reads["zoo"]) == [
        ("leaderboard/x.py", "entry.get('method')"),
        ("leaderboard/x.py", "entry['id']"),
        ("leaderboard/x.py", "found['weights']"),
        ("leaderboard/x.py", "found['weights']['sha256']"),
    ]
    assert [(path, text) for path, _, text in reads["plan"]] == [
        ("report/y.py", "m['name']"),
        ("report/z.py", "runs[0]['key']"),
    ]


def test_readers_ask_zoo_and_plan_entries_by_property_not_by_key():
    """String-key reads of zoo entries outside their reader (zoo/store.py, zoo/entry.py) and the checker of their
    training record (zoo/training_record.py), and of plan entries (plan.json's models) outside theirs
    (recipes/recipe.py, recipes/plan_entry.py), counted by tools/string_key_reads.py: at most 5 each (the zoo's
    are the corruptions board's; everything else asks ZooEntry and PlanEntry by name)."""
    counts = _string_key_reads().analyse(
        {str(p.relative_to(ROOT / "sam_bench")): p.read_text() for p in sorted((ROOT / "sam_bench").rglob("*.py"))}
    )
    assert sum(counts["zoo"].values()) <= 5, counts["zoo"]
    assert sum(counts["plan"].values()) <= 5, counts["plan"]
