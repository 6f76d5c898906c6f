"""The confirmatory replication's machinery: AutoAttack at several budgets per norm with a version
per budget, PGD on its own number of images, endpoints (primary tests, confirmatory seeds) fixed in the recipe
and traced to the commit that set them, and runs reused without their weights keeping the results they came with."""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.experiments.reproduce import reproduce
from sam_bench.experiments.reproduction import _evaluation_key
from sam_bench.recipes.endpoints import Endpoints, PrimaryTest, set_in_commit
from sam_bench.recipes.evaluation_block import autoattack_budgets, evaluation_for, evaluation_specs
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report.grid_minutes import signature_of_result, signature_of_spec

ROOT = Path(__file__).parent.parent


def test_autoattack_takes_several_budgets_per_norm_and_a_version_per_budget():
    block = {
        "version": "standard",
        "n_examples": 50,
        "Linf": ["1/255", {"eps": "2/255", "version": "custom", "attacks": ["apgd-ce", "apgd-t"], "all_seeds": True}],
        "L2": "16/255",
    }
    budgets = autoattack_budgets(block)
    assert [(b["norm"], b["eps"], b["version"], b["attacks"], b["n_examples"], b["all_seeds"]) for b in budgets] == [
        ("Linf", "1/255", "standard", None, 50, False),
        ("Linf", "2/255", "custom", ["apgd-ce", "apgd-t"], 50, True),
        ("L2", "16/255", "standard", None, 50, False),
    ]
    specs = evaluation_specs(
        {"n_examples": 100, "pgd": {"n_examples": 80, "Linf": {"eps": ["2/255"]}}, "autoattack": block}
    )
    assert [(s.attack, s.norm, s.settings.get("version"), s.n_examples) for s in specs] == [
        ("clean", None, None, None),
        ("pgd", "Linf", None, 80),
        ("autoattack", "Linf", "standard", 50),
        ("autoattack", "Linf", "custom", 50),
        ("autoattack", "L2", "standard", 50),
    ]
    with pytest.raises(BadInput, match="the same budget and version twice"):
        autoattack_budgets({"Linf": ["2/255", "2/255"]})
    with pytest.raises(BadInput, match="pgd n_examples .200. exceeds the evaluation's n_examples .100."):
        evaluation_specs({"n_examples": 100, "pgd": {"n_examples": 200, "Linf": {"eps": ["2/255"]}}})


def test_a_later_seed_gets_only_the_budgets_every_seed_gets():
    recipe = load_recipe("paper-cifar10", "cpu-confirmatory")
    first = next(m for m in recipe.models if m.name == "ST" and m.primary)
    later = next(m for m in recipe.models if m.name == "ST" and m.seed == 7)
    aa = lambda plan: [  # noqa: E731
        (s.norm, s.eps, s.settings["version"], s.n_examples)
        for s in evaluation_specs(evaluation_for(plan, recipe.evaluation))
        if s.attack == "autoattack"
    ]
    assert len(aa(first)) == 5  # standard at the four C2 budgets, and the primary test's APGD-CE + APGD-T
    assert aa(later) == [("Linf", 2 / 255, "custom", 1000)]


def _made(results: dict) -> set[tuple]:
    """What a results file's evaluations are: attack, norm, eps, AutoAttack version, images."""
    return {signature_of_result(e) for e in Results.of(results).evaluations}


def _asked(evaluation: dict, total: int) -> set[tuple]:
    """The same of what a recipe's evaluation block asks, on `total` test images unless it says fewer."""
    images = evaluation.get("n_examples") or total
    return {signature_of_spec(s, images) for s in evaluation_specs(evaluation)}


def test_every_committed_results_file_keeps_its_evaluation_key():
    """Reading the evaluation block anew changed no evaluation a committed run was made by (or it would be
    evaluated again): each results file's key is the one its recipe gives it today, or else the recipe has
    only gained attacks since, keeping every one the file has (the full scale gained AutoAttack at the
    claims' budgets after its first models: they are to be evaluated again, with more)."""
    checked = gained = 0
    for folder in sorted((ROOT / "reproductions").glob("*/plan.json")):
        plan = files.read_json(folder)
        try:
            recipe = load_recipe(plan["name"], plan["scale"])
        except BadInput:
            continue  # a test recipe's folder
        by_run = {m.run_name: m for m in recipe.models}
        for path in sorted(folder.parent.glob("results/*.json")):
            results = files.read_json(path)
            tag = results.get("reproduce") or {}
            if tag.get("scale") != plan["scale"] or path.stem not in by_run or "evaluation_key" not in tag:
                continue  # reused from another folder: keyed by that one's recipe
            if not results.get("clean_outcomes"):
                continue  # made before per-image outcomes existed: due to be evaluated again (grid.RESULTS_FORMAT)
            evaluation = evaluation_for(by_run[path.stem], recipe.evaluation)
            expected = _evaluation_key(results["model"]["weights_sha256"], evaluation)
            if tag["evaluation_key"] != expected:
                made, asked = _made(results), _asked(evaluation, results["clean_outcomes"]["n"])
                assert made < asked, f"{path}: its recipe changed or dropped evaluations, not only added some"
                gained += 1
            checked += 1
    assert checked >= 60 and gained <= 2  # ST and SAM-0.1 of the full scale


def test_the_confirmatory_scale_fixes_its_endpoints_before_its_runs():
    recipe = load_recipe("paper-cifar10", "cpu-confirmatory")
    decisive = load_recipe("paper-cifar10", "cpu-decisive")
    seeds: dict[str, list[int]] = {}
    for m in recipe.models:
        seeds.setdefault(m.name, []).append(m.seed)
    assert seeds == {"ST": list(range(20)), "SAM-0.1": list(range(20)), "AT-Linf-8": [0, 1, 2]}
    shared = {(m.name, m.seed): m.key for m in decisive.models}
    for m in recipe.models:  # cpu-decisive's runs are the same trainings: reused, not retrained
        assert shared.get((m.name, m.seed), m.key) == m.key
    assert sum((m.name, m.seed) in shared for m in recipe.models) == 11
    endpoints = recipe.endpoints
    assert endpoints.confirmatory_seeds == {"ST": list(range(5, 20)), "SAM-0.1": list(range(5, 20))}
    assert endpoints.primary_tests["C1"] == PrimaryTest("C1", "clean", 10000)
    c2 = endpoints.primary_tests["C2"]
    assert c2.label() == "AutoAttack (APGD-CE + APGD-T) Linf 2/255 on the first 1,000 test images"
    assert recipe.evaluation["n_examples"] == 10000 and recipe.evaluation["pgd"]["n_examples"] == 2000
    assert Endpoints.from_plan(recipe.describe()) == endpoints  # plan.json carries them whole
    assert recipe.compute_budget == {"hours": 12, "cores": 2}


C3_PGD = "attack: pgd, norm: Linf, eps: 2/255, images: 8"
BASE = """
name: endpoints
dataset: cifar10-sample
train: {arch: preactresnet18, width: 0.125, epochs: 1, seed: 0}
models:
  - {name: ST, method: standard}
  - {name: SAM, method: sam, rho: 0.1}
  - {name: AT-8, method: at, attack_eps: 8/255}
  - {name: ASAM, method: asam}
  - {name: SAM-AT, method: sam-at, attack_eps: 8/255}
evaluation:
  n_examples: 64
  pgd: {n_examples: 32, Linf: {eps: [2/255]}}
  autoattack: {Linf: [8/255, {eps: 2/255, version: custom, attacks: [apgd-ce], all_seeds: true}], n_examples: 16}
scales:
"""


@pytest.mark.parametrize(
    "scale, message",
    [
        ("{primary_tests: {C4: {attack: clean, images: 8}}}", "'C4' is not a claim with a test"),
        ("{primary_tests: {C2: {attack: pgd, norm: Linf, eps: 1/255, images: 8}}}", "runs no PGD at Linf 1/255"),
        ("{primary_tests: {C2: {attack: pgd, norm: Linf, eps: 2/255, images: 64}}}", "64 images, but the evaluation"),
        ("{primary_tests: {C1: {attack: clean, images: 100}}}", "100 images, but the evaluation runs it on 64"),
        ("{primary_tests: {C1: {attack: clean, norm: Linf, images: 8}}}", "a clean test takes no norm"),
        ("{primary_tests: {C2: {attack: autoattack, norm: L2, eps: 0.5, images: 8}}}", "no AutoAttack standard at L2"),
        (
            "{primary_tests: {C2: {attack: autoattack, version: custom, norm: Linf, eps: 2/255, images: 8}}}",
            "attacks go with version custom",
        ),
        ("{seeds: [0, 1], confirmatory_seeds: {ST: [2]}}", "confirmatory seed 2 of ST is not among its seeds"),
        ("{confirmatory_seeds: {AT: [0]}}", "names 'AT', which this scale does not train"),
        (
            "{seeds: [0, 1], confirmatory_seeds: {ST: [1]}, "
            "primary_tests: {C2: {attack: autoattack, norm: Linf, eps: 8/255, images: 8}}}",
            "runs on first seeds only",
        ),
        ("{primary_tests: {C1: {attack: clean}}}", "images"),
        ("{primary_tests: {C3: {attack: pgd, norm: Linf, eps: 2/255, images: 8}}}", "its test names two models"),
        ("{primary_tests: {C1: {models: [AT-8, SAM], attack: clean, images: 8}}}", "only C3 names models"),
        (f"{{primary_tests: {{C3: {{models: [SAM, AT-8], {C3_PGD}}}}}}}", "'SAM' is not an AT model"),
        (f"{{primary_tests: {{C3: {{models: [AT-8, ST], {C3_PGD}}}}}}}", "'ST' is not a SAM model"),
        (f"{{primary_tests: {{C3: {{models: [AT-8, SAM-AT], {C3_PGD}}}}}}}", "'SAM-AT' is not a SAM model"),
        (f"{{primary_tests: {{C3: {{models: [AT-8, X], {C3_PGD}}}}}}}", "'X' is not a model of this scale"),
        (f"{{primary_tests: {{C3: {{models: [AT-8, AT-8], {C3_PGD}}}}}}}", "two different models"),
        ("{primary_tests: {C3: {models: [AT-8, SAM], attack: clean, images: 8}}}", "its measure is AT's robust one"),
        (
            f"{{seeds: [0, 1, 2], confirmatory_seeds: {{AT-8: [0, 1], ST: [1]}}, "
            f"primary_tests: {{C3: {{models: [AT-8, SAM], {C3_PGD}}}}}}}",
            "SAM has no confirmatory seeds",
        ),
    ],
)
def test_bad_endpoints_are_refused_in_one_line(tmp_path, scale, message):
    path = tmp_path / "endpoints.yaml"
    path.write_text(BASE + f"  s: {scale}\n")
    with pytest.raises(BadInput, match=message) as err:
        load_recipe(str(path), "s")
    assert "\n" not in str(err.value)


def test_good_endpoints_are_read(tmp_path):
    path = tmp_path / "endpoints.yaml"
    path.write_text(
        BASE + "  s: {seeds: [0, 1, 2], confirmatory_seeds: {ST: [1, 2], SAM: [1, 2]}, primary_tests: "
        "{C1: {attack: clean, images: 64}, C2: {attack: autoattack, version: custom, attacks: [apgd-ce], "
        "norm: Linf, eps: 2/255, images: 16}}}\n"
    )
    endpoints = load_recipe(str(path), "s").endpoints
    assert sorted(endpoints.primary_tests) == ["C1", "C2"] and endpoints.confirmatory_seeds["SAM"] == [1, 2]
    custom = {"version": "custom", "attacks": ["apgd-ce"]}
    entry = Evaluation("autoattack", 0.5, norm="Linf", eps="2/255", eps_value=2 / 255, n_examples=16, settings=custom)
    c2 = endpoints.primary_tests["C2"]
    assert c2.matches(entry)
    assert not c2.matches(replace(entry, settings={"version": "standard", "attacks": ["apgd-ce", "apgd-t"]}))
    assert not c2.matches(replace(entry, n_examples=8))


def test_c3s_sam_model_may_be_any_sam_on_clean_images(tmp_path):
    """C3's second model is a SAM model as the method table tells one: SAM's two passes on clean images, ASAM's too
    (SAM on PGD examples trains on attacked images: an AT model, refused above)."""
    path = tmp_path / "endpoints.yaml"
    path.write_text(BASE + f"  s: {{primary_tests: {{C3: {{models: [AT-8, ASAM], {C3_PGD}}}}}}}\n")
    assert load_recipe(str(path), "s").endpoints.primary_tests["C3"].models == ("AT-8", "ASAM")


def test_c3s_primary_test_names_its_two_models_and_is_judged_on_clean_accuracy_too(tmp_path):
    path = tmp_path / "endpoints.yaml"
    path.write_text(
        BASE + "  s: {seeds: [0, 1, 2], confirmatory_seeds: {AT-8: [0, 1], SAM: [1, 2]}, primary_tests: "
        f"{{C3: {{models: [AT-8, SAM], {C3_PGD}}}}}}}\n"
    )
    endpoints = load_recipe(str(path), "s").endpoints
    c3 = endpoints.primary_tests["C3"]
    assert c3.models == ("AT-8", "SAM") and c3.measure() == ("pgd", "Linf", "2/255")
    assert c3.label() == "PGD Linf 2/255 and clean on the first 8 test images"
    assert Endpoints.from_plan({"primary_tests": endpoints.describe()["primary_tests"]}).primary_tests["C3"] == c3


def test_the_full_scale_fixes_its_seeds_and_primary_tests_before_any_later_seed_trains():
    recipe = load_recipe("paper-cifar10", "full")
    seeds: dict[str, list[int]] = {}
    for m in recipe.models:
        seeds.setdefault(m.name, []).append(m.seed)
    core = {"ST": [0, 1, 2, 3], "SAM-0.1": [0, 1, 2, 3], "SAM-0.4": [0, 1, 2], "AT-Linf-8": [0, 1], "AT-Linf-2": [0, 1]}
    assert {name: seeds[name] for name in core} == core
    assert all(s == [0] for name, s in seeds.items() if name not in core)
    endpoints = recipe.endpoints
    # seed 0 of ST and the SAMs was seen when the tests were chosen (exploratory); the ATs' was not; seed 3 of ST
    # and SAM-0.1 keeps two counting seeds where seed 1's records name no code (report.code_provenance)
    assert endpoints.confirmatory_seeds == {
        "ST": [1, 2, 3],
        "SAM-0.1": [1, 2, 3],
        "SAM-0.4": [1, 2],
        "AT-Linf-8": [0, 1],
        "AT-Linf-2": [0, 1],
    }
    labels = {claim: test.label() for claim, test in endpoints.primary_tests.items()}
    assert labels == {
        "C1": "clean on the first 10,000 test images",
        "C2": "AutoAttack (APGD-CE + APGD-T) Linf 2/255 on the first 1,000 test images",
        "C3": "PGD Linf 8/255 and clean on the first 10,000 test images",
    }
    assert endpoints.primary_tests["C3"].models == ("AT-Linf-8", "SAM-0.1")


def test_the_commit_that_fixed_the_endpoints_is_found_in_history(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    path = tmp_path / "endpoints.yaml"
    fixed = "  s: {seeds: [0, 1], confirmatory_seeds: {ST: [1]}, primary_tests: {C1: {attack: clean, images: 64}}}\n"
    path.write_text(BASE + "  s: {seeds: [0, 1]}\n")
    git("add", ".")
    git("commit", "-q", "-m", "grid")
    endpoints = Endpoints({"C1": PrimaryTest("C1", "clean", 64)}, {"ST": [1]})
    assert set_in_commit(path, "endpoints", "s", endpoints) is None  # not committed yet
    path.write_text(BASE + fixed)
    git("commit", "-qam", "endpoints")
    setting = git("rev-parse", "HEAD")
    path.write_text(BASE + fixed + "  other: {}\n")
    git("commit", "-qam", "another scale")
    assert load_recipe(str(path), "s").endpoints == endpoints
    assert set_in_commit(path, "endpoints", "s", endpoints)["commit"] == setting  # not the later commit
    path.write_text(BASE + fixed.replace("images: 64", "images: 32") + "  other: {}\n")
    git("commit", "-qam", "changed after the runs")
    assert set_in_commit(path, "endpoints", "s", endpoints) is None
    assert set_in_commit(tmp_path / "elsewhere" / "x.yaml", "endpoints", "s", endpoints) is None


def test_a_recipe_moved_to_another_folder_keeps_the_commit_that_fixed_its_endpoints(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "old").mkdir()
    path = tmp_path / "old" / "endpoints.yaml"
    fixed = "  s: {seeds: [0, 1], confirmatory_seeds: {ST: [1]}, primary_tests: {C1: {attack: clean, images: 64}}}\n"
    path.write_text(BASE + fixed)
    git("add", ".")
    git("commit", "-q", "-m", "endpoints")
    setting = git("rev-parse", "HEAD")
    (tmp_path / "new").mkdir()
    git("mv", "old/endpoints.yaml", "new/endpoints.yaml")
    git("commit", "-q", "-m", "moved")
    endpoints = Endpoints({"C1": PrimaryTest("C1", "clean", 64)}, {"ST": [1]})
    assert set_in_commit(tmp_path / "new" / "endpoints.yaml", "endpoints", "s", endpoints)["commit"] == setting


def test_a_run_reused_without_its_weights_keeps_the_results_it_came_with_until_they_are_kept_again(tmp_path):
    common = (
        "dataset: cifar10-sample\ntrain: {arch: preactresnet18, width: 0.125, epochs: 1, batch_size: 64, "
        "n_train: 128, seed: 0}\nmodels:\n  - {name: ST, method: standard}\n"
    )
    base = tmp_path / "base.yaml"
    base.write_text(
        f"name: base\n{common}evaluation: {{n_examples: 32, pgd: {{steps: 2, Linf: {{eps: [2/255]}}}}}}\n"
        "scales:\n  test: {publish: false, seeds: [0, 1]}\n"
    )
    reproduce(str(base), "test", out=tmp_path / "base-test", device="cpu", progress=False)
    later = next(
        p
        for p in (tmp_path / "base-test" / "runs").iterdir()
        if json.loads((p / "metadata.json").read_text())["config"]["seed"] == 1
    )
    weights = (later / "model.safetensors").read_bytes()
    (later / "model.safetensors").unlink()  # a later seed whose weights were never kept
    before = (tmp_path / "base-test" / "results" / f"{later.name}.json").read_bytes()
    again = tmp_path / "again.yaml"
    again.write_text(
        f"name: again\n{common}"
        "evaluation: {n_examples: 48, pgd: {steps: 2, n_examples: 32, Linf: {eps: [2/255]}}}\n"
        "scales:\n  test: {publish: false, seeds: [0, 1], reuse: [base-test]}\n"
    )
    complete, _ = reproduce(str(again), "test", out=tmp_path / "again-test", device="cpu", progress=False)
    assert complete
    out = tmp_path / "again-test"
    assert (out / "results" / f"{later.name}.json").read_bytes() == before  # kept as made
    first = next(p for p in out.glob("results/*.json") if p.stem != later.name)
    assert json.loads(first.read_text())["dataset"]["n_examples"] == 48  # evaluated again, from its weights
    from sam_bench.experiments.executors import cell_done
    from sam_bench.experiments.reproduction import Reproduction

    repro = Reproduction(load_recipe(str(again), "test"), out)
    assert all(cell_done(repro, plan) for plan in repro.recipe.models)
    assert [repro.results_kept_as_reused(plan) for plan in repro.recipe.models] == [False, True]

    # Its weights come back where it came from (a bit-identical retrain, `zoo keep --from`): now the run is
    # evaluated here from them, like any other, and its results are this recipe's.
    (later / "model.safetensors").write_bytes(weights)
    assert [repro.results_kept_as_reused(plan) for plan in repro.recipe.models] == [False, False]
    assert not all(cell_done(repro, plan) for plan in repro.recipe.models)
    complete, _ = reproduce(str(again), "test", out=out, device="cpu", progress=False)
    assert complete and all(cell_done(repro, plan) for plan in repro.recipe.models)
    results = json.loads((out / "results" / f"{later.name}.json").read_text())
    assert results["dataset"]["n_examples"] == 48 and results["reproduce"]["seed"] == 1
    assert (out / "runs" / later.name / "model.safetensors").read_bytes() == weights  # taken, so it verifies here


def test_a_recheck_names_two_autoattack_versions_at_one_budget_apart():
    from sam_bench.evaluation.recheck import label

    standard = Evaluation("autoattack", 0.5, norm="Linf", eps="2/255", settings={"version": "standard"})
    custom = replace(standard, settings={"version": "custom", "attacks": ["apgd-ce", "apgd-t"]})
    assert label(standard) == "autoattack Linf 2/255"  # as every committed recheck.json names it
    assert label(custom) == "autoattack Linf 2/255 (custom: apgd-ce, apgd-t)"
