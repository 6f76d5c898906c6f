"""The evaluation's tables (sam_bench.threat_models, sam_bench.evaluation.attack_table, the evaluators) are the one
place a threat model or an attack is named: the schemas' enums are the tables' names, a toy threat model registered
in the table alone is taken by make_attacks, evaluate and the results' schema, and one with an evaluator of its own
is its record and its evaluator."""

import ast
import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import sam_bench
from sam_bench import schema, threat_models
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table, evaluators
from sam_bench.evaluation.specs import AttackSpec, make_attacks


def _marked_enums():
    """(file, where, table, the file's own enum) of every enum a schema file says a table owns."""
    found = []

    def walk(node, kind, where):
        if isinstance(node, dict):
            if "x-table" in node:
                found.append((kind, where, node["x-table"], node["enum"]))
            for key, value in node.items():
                walk(value, kind, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, kind, f"{where}/{i}")

    for kind in schema.KINDS:
        walk(json.loads((schema.SCHEMA_DIR / f"{kind}.schema.json").read_text()), kind, "")
    return found


def test_the_schema_files_enums_are_the_tables_names():
    marked = _marked_enums()
    assert {table for _, _, table, _ in marked} == set(schema.table_enums())
    assert len(marked) == 9  # threat model x4 (a claim of a model trained elsewhere too), attack norm x4, budgets x1
    for kind, where, table, enum in marked:
        assert [v for v in enum if v is not None] == schema.table_enums()[table], f"{kind}.schema.json{where}"


def test_no_schema_names_a_threat_model_outside_a_marked_enum():
    """(A recipe's evaluation block keys its budgets by threat model: `pgd: {Linf: ...}`, property names.)"""
    for kind in schema.KINDS:
        text = (schema.SCHEMA_DIR / f"{kind}.schema.json").read_text()
        named = text.count('"Linf"') - text.count('"Linf":')
        marked = sum(1 for k, _, table, enum in _marked_enums() if k == kind and "Linf" in enum)
        assert named == marked, kind


def test_a_threat_model_answers_for_its_budgets():
    linf = threat_models.threat_model("Linf")
    assert linf.parse_budget("8/255") == pytest.approx(8 / 255) and format_eps(8 / 255) == "8/255"
    assert linf.robustbench_budget == "8/255" and threat_models.threat_model("L2").robustbench_budget == "0.5"
    assert linf.headline in linf.board_columns
    with pytest.raises(BadInput, match="beyond any two images for Linf"):
        linf.parse_budget("2")
    with pytest.raises(BadInput, match="unknown threat model 'L3'; choose one of Linf, L2"):
        threat_models.threat_model("L3")
    assert threat_models.order("Linf") < threat_models.order("L2") < threat_models.order(None)


@pytest.fixture
def toy_threat_model(monkeypatch):
    """Linf's ball under another name, a quarter as wide at most: a threat model that is only a table entry."""
    toy = threat_models.ThreatModel(
        "Linf-toy",
        norm="Linf",
        largest=64 / 255,
        largest_words="64/255",
        robustbench_budget="4/255",
        largest_usual=8 / 255,
        largest_usual_why="the toy's largest usual budget",
        mistaken_for="a toy slip?",
    )
    monkeypatch.setitem(threat_models.TABLE, toy.name, toy)
    return toy


def test_a_threat_model_added_to_the_table_alone_is_taken_everywhere(toy_threat_model):
    assert "Linf-toy" in threat_models.names() and "Linf-toy" in threat_models.norm_names()
    [spec] = make_attacks("pgd", "Linf-toy")  # its RobustBench budget by default
    assert spec.eps == pytest.approx(4 / 255) and spec.norm == "Linf-toy"
    with pytest.raises(BadInput, match="beyond any two images for Linf-toy; at most 64/255"):
        make_attacks("pgd", "Linf-toy", ["0.5"])
    assert threat_models.doubtful_budget(16 / 255, "Linf-toy").startswith("Linf-toy eps 16/255 is above 8/255")
    assert "Linf-toy" in schema.load("zoo-entry")["properties"]["threat_model"]["enum"]


ROOT = Path(__file__).resolve().parents[1]


def _extension_points():
    """tools/extension_points.py, whose rule (`strangers_naming`) the package is held to."""
    spec = importlib.util.spec_from_file_location("extension_points", ROOT / "tools" / "extension_points.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_names_none_of_its_modules_in_a_string():
    """Every module of the package is reached by an ordinary import, which the import graph, import-linter and mypy
    follow: no string names one ("sam_bench.x.y", "sam_bench.x:f"; a package's name is a logger's or its data's),
    no importlib call builds one."""
    files = [p for p in (ROOT / "sam_bench").rglob("*.py")]
    modules = {_extension_points().module_name(p.relative_to(ROOT).as_posix()) for p in files if p.stem != "__init__"}
    found = []
    for path in (ROOT / "sam_bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
            if text is not None and text.partition(":")[0] in modules - {"sam_bench"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
            call = node.func if isinstance(node, ast.Call) else None
            if (
                isinstance(call, ast.Attribute)
                and call.attr == "import_module"
                and isinstance(node.args[0], ast.JoinedStr)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: import_module of an f-string")
    assert found == []


def test_a_kind_with_an_evaluator_of_its_own_is_named_by_its_own_modules():
    """Outside the tables, only the modules that a kind's evaluator and board reach name the corruptions (the
    import graph says which: tools/extension_points.py), besides the questions asked of corruptions by name: the
    extension tests' recipe, runs and report, and the throughput bench of the corruption pass."""
    tool = _extension_points()
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in (ROOT / "sam_bench").rglob("*.py")}
    [(kind, words, own)] = tool.own_kinds(texts)
    assert kind == "corruptions" and "corruption_outcomes" in words
    assert {"sam_bench.evaluation.corruption_runner", "sam_bench.leaderboard.corruptions_board"} <= own
    assert [line.partition(":")[0] for line in tool.strangers_naming(words, own, texts)] == [
        "sam_bench/bench/corruption_throughput.py",
        "sam_bench/experiments/extension_runs.py",
        "sam_bench/recipes/endpoints.py",
        "sam_bench/report/extension_tests.py",
    ]
    texts["sam_bench/leaderboard/generic.py"] = "# the corruptions' boards\nkey = 'corruption_outcomes'"
    assert "sam_bench/leaderboard/generic.py: lines [1, 2]" in tool.strangers_naming(words, own, texts)


def _fogged(model):
    """The model as it sees through fog: every image blended halfway to grey first."""
    return torch.nn.Sequential(_Fog(), model).eval()


class _Fog(torch.nn.Module):
    def forward(self, x):
        return 0.5 * x + 0.25


class _FogEvaluator(evaluators.base.Evaluator):
    """A toy evaluator of its own kind: the attacks of an Linf ball, run on the model as it sees through fog."""

    kind = "fog"
    words = "the attacks through fog"

    def evaluate(self, job):
        from sam_bench import files
        from sam_bench.evaluation.evaluate import evaluate

        model, _info = job.loaded
        results = evaluate(_fogged(model), job.data, job.attacks, n_examples=job.n_examples, progress=False)
        files.write_json(job.out, results)
        return job.out, results


def test_a_fourth_threat_model_is_its_record_and_its_evaluator(monkeypatch, tmp_path):
    """A threat model measured by an evaluator of its own is its record in the table and its evaluator (here
    registered as its import line in sam_bench.evaluation.evaluators does): `benchmark` writes its results file,
    and the generic checks and readers take it."""
    from sam_bench.data import load_dataset
    from sam_bench.evaluation import per_class, recheck, results_file
    from sam_bench.evaluation.results_record import Results

    fog = threat_models.ThreatModel(
        "Linf-fog", norm="Linf", largest=1.0, largest_words="1", robustbench_budget="8/255", kind="fog"
    )
    monkeypatch.setitem(threat_models.TABLE, fog.name, fog)
    monkeypatch.setitem(evaluators.EVALUATORS, "fog", _FogEvaluator())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    data = load_dataset("cifar10-sample")
    specs = make_attacks("clean") + make_attacks("pgd", "Linf-fog", ["0", "2/255"], steps=2)
    path, written = sam_bench.benchmark(
        "toy", "Linf-fog", specs, data, out=tmp_path / "fog.json", loaded=(model, None), n_examples=32
    )
    results = Results(results_file.read(path), path)
    assert results.as_dict() == Results.of(written).as_dict()
    pgd = results.evaluation("pgd", "Linf-fog", "2/255")
    assert pgd is not None and pgd.n_examples == 32 and recheck.label(pgd) == "pgd Linf-fog 2/255"
    assert results.evaluation("pgd", "Linf-fog", "0").robust_acc == results.evaluation("clean").robust_acc
    per_class.check(path, results, data.y_test)  # its per-class figures, from its outcomes and the labels
    with pytest.raises(BadInput, match="unknown threat model 'Linf-smog'"):
        sam_bench.benchmark("toy", "Linf-smog", specs, data, out=tmp_path / "smog.json")


def _sign_noise(model, x, y, spec, batch_size, bar):
    """A toy attack: every pixel of a correctly classified image moved by +-eps at random (seeded), clipped."""
    from sam_bench.evaluation.runners import AttackOutput

    generator = torch.Generator().manual_seed(spec.settings["seed"])
    signs = torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).view(-1, 1, 1, 1)
    bar.update(len(x))
    return AttackOutput(torch.where(correct, (x + spec.eps * signs).clamp(0, 1), x))


@pytest.fixture
def toy_attack(monkeypatch):
    """An attack that is only a record of the table."""
    toy = attack_table.Attack(
        "sign-noise",
        display="sign noise",
        help="random signs of size eps",
        runner=_sign_noise,
        specs=lambda values, norm, options: [AttackSpec("sign-noise", norm, e, {"seed": options.seed}) for e in values],
        cost=lambda spec, num_classes: 0,
        options=("norm", "eps", "seed"),
        board=attack_table.COLUMN,
    )
    monkeypatch.setitem(attack_table.TABLE, toy.name, toy)
    return toy


def test_an_attack_added_to_the_table_alone_evaluates_a_model(toy_attack, toy_threat_model):
    from sam_bench.data import load_dataset
    from sam_bench.evaluation import results_file
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.results_record import Results

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    specs = make_attacks("clean") + make_attacks("sign-noise", "Linf-toy", ["0", "2/255", "8/255"], seed=3)
    results = evaluate(model, load_dataset("cifar10-sample"), specs, n_examples=48, progress=False)
    results_file.check(results, "results")  # the schema takes the toy threat model's name from the table
    read = Results.of(results)
    noisy = read.evaluation("sign-noise", "Linf-toy", "8/255")
    assert noisy is not None and noisy.n_examples == 48
    assert read.evaluation("sign-noise", "Linf-toy", "0").robust_acc == read.evaluation("clean").robust_acc
    assert noisy.max_perturbation == pytest.approx(8 / 255, abs=1e-6)  # checked against the toy's Linf ball
    assert attack_table.applies_to()["seed"] == ("pgd", "autoattack", "sign-noise")
    assert attack_table.cost(specs[1], 10) == 0
    choices = "clean, pgd, autoattack, corruptions, sign-noise"
    with pytest.raises(BadInput, match=f"unknown attack 'sign-nose'; choose one of {choices}"):
        make_attacks("sign-nose")


def test_the_attack_records_answer_for_the_attacks():
    assert attack_table.names() == ("clean", "pgd", "autoattack", "corruptions")
    assert attack_table.headline().name == "autoattack" and attack_table.is_column("pgd")
    assert not attack_table.in_threat_model("clean") and attack_table.in_threat_model("pgd")
    [pgd] = make_attacks("pgd", "Linf", ["8/255"], steps=5, restarts=2)
    assert attack_table.cost(pgd, 10) == 2 * (5 * 3 + 1)
    assert attack_table.cost(make_attacks("clean")[0], 10) == 0
    assert attack_table.applies_to()["steps"] == ("pgd",)


def test_the_spot_check_reads_its_rules_from_the_attack_table(monkeypatch):
    from sam_bench.evaluation import spot_check

    for name, record in attack_table.TABLE.items():
        assert spot_check.remeasure(name) is record.remeasure
    monkeypatch.setitem(attack_table.TABLE, "pgd", dataclasses.replace(attack_table.PGD, remeasure=None))
    with pytest.raises(BadInput, match="no rule to measure 'pgd' again"):
        spot_check.remeasure("pgd")
