import pytest

from sam_bench.errors import BadInput
from sam_bench.recipes.recipe import available, load_recipe, merge


def test_shipped_recipes_load_at_every_scale():
    assert {"paper-cifar10", "paper-cifar100"} <= set(available())
    full = load_recipe("paper-cifar10", "full")
    runs = [(m.name, m.seed) for m in full.models]
    # every seed of the models C1 and C2 compare (ST and SAM-0.1 one more: seed 1 names no code, so counts as
    # exploratory), then of C3's AT models, then the rest of the grid's first seeds
    assert runs[:15] == [
        *[(name, seed) for seed in (0, 1, 2) for name in ("ST", "SAM-0.1", "SAM-0.4")],
        ("ST", 3),
        ("SAM-0.1", 3),
        *[(name, seed) for seed in (0, 1) for name in ("AT-Linf-8", "AT-Linf-2")],
    ]
    names = [m.name for m in full.models if m.primary]
    assert len(names) == 17 and len(runs) == 27
    assert names[-2:] == ["TRADES-Linf-8", "AWP-AT-Linf-8"]  # after the paper's own models
    assert {"AT-Linf-1", "AT-Linf-8", "AT-L2-16", "AT-L2-128", "ASAM-0.5", "SAM-AT-Linf-2"} <= set(names)
    at8 = next(m for m in full.models if m.name == "AT-Linf-8").config
    assert (at8.epochs, at8.width, at8.attack_steps, at8.attack_step_size, at8.batch_size) == (
        100,
        1.0,
        10,
        "2/255",
        128,
    )
    at1 = next(m for m in full.models if m.name == "AT-Linf-1").config
    assert at1.attack_step_size == "0.5/255"
    # RobustBench's budgets on all 10,000 images for the boards (first seeds); the claims' (C2) on the first 1,000:
    # standard on first seeds, APGD-CE + APGD-T on every seed
    cheaper = {"version": "custom", "attacks": ["apgd-ce", "apgd-t"], "n_examples": 1000, "all_seeds": True}
    assert full.evaluation["autoattack"] == {
        "version": "standard",
        "Linf": [
            "8/255",
            {"eps": "1/255", "n_examples": 1000},
            {"eps": "2/255", "n_examples": 1000},
            {"eps": "1/255", **cheaper},
            {"eps": "2/255", **cheaper},
        ],
        "L2": [
            "0.5",
            {"eps": "16/255", "n_examples": 1000},
            {"eps": "32/255", "n_examples": 1000},
            {"eps": "16/255", **cheaper},
            {"eps": "32/255", **cheaper},
        ],
    }
    smoke = load_recipe("paper-cifar10", "smoke")
    assert smoke.dataset == "cifar10-sample" and not smoke.publish
    assert all(m.config.width == 0.125 and m.config.epochs == 4 and m.config.n_train is None for m in smoke.models)
    assert load_recipe("paper-cifar100", "full").dataset == "cifar100"


def test_a_scales_order_works_through_its_groups_one_after_another(tmp_path):
    path = tmp_path / "order.yaml"
    path.write_text(
        "name: order\ndataset: cifar10-sample\ntrain: {arch: preactresnet18, width: 0.125, epochs: 1}\n"
        "models:\n  - {name: A, method: standard}\n  - {name: B, method: sam, rho: 0.1}\n"
        "  - {name: C, method: standard, lr: 0.05}\n  - {name: D, method: sam, rho: 0.2}\n"
        "evaluation: {n_examples: 8}\n"
        "scales:\n  grouped: {seeds: [0, 1], order: [[C], [B, A]]}\n  plain: {seeds: [0, 1]}\n"
        "  unknown: {order: [[E]]}\n  twice: {order: [[A], [A, B]]}\n"
    )
    grouped = [(m.name, m.seed) for m in load_recipe(str(path), "grouped").models]
    assert grouped == [("C", 0), ("C", 1), ("B", 0), ("A", 0), ("B", 1), ("A", 1), ("D", 0), ("D", 1)]
    plain = [(m.name, m.seed) for m in load_recipe(str(path), "plain").models]
    assert plain == [("A", 0), ("B", 0), ("C", 0), ("D", 0), ("A", 1), ("B", 1), ("C", 1), ("D", 1)]
    with pytest.raises(BadInput, match="order names 'E', which this scale does not train"):
        load_recipe(str(path), "unknown")
    with pytest.raises(BadInput, match="order names a model twice"):
        load_recipe(str(path), "twice")


def test_keys_change_with_settings_only(tmp_path):
    a = {m.name: m.key for m in load_recipe("paper-cifar10", "full").models}
    b = {m.name: m.key for m in load_recipe("paper-cifar10", "full", data_dir="/elsewhere", device="cpu").models}
    assert a == b  # where the data lives and which device runs it do not change what is trained
    text = (load_recipe.__globals__["RECIPE_DIR"] / "paper-cifar10.yaml").read_text()
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("{name: SAM-0.1, method: sam, rho: 0.1}", "{name: SAM-0.1, method: sam, rho: 0.15}"))
    c = {m.name: m.key for m in load_recipe(str(edited), "full").models}
    assert c["SAM-0.1"] != a["SAM-0.1"] and c["ST"] == a["ST"]


def test_merge():
    assert merge({"a": {"x": 1, "y": 2}, "b": [1]}, {"a": {"y": 3}, "b": [2]}) == {"a": {"x": 1, "y": 3}, "b": [2]}
    assert merge({"a": {"x": 1}}, {"a": None}) == {"a": None}


def test_bad_recipes(tmp_path):
    with pytest.raises(BadInput, match="unknown recipe"):
        load_recipe("paper-imagenet", "full")
    with pytest.raises(BadInput, match="unknown scale"):
        load_recipe("paper-cifar10", "huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ndataset: cifar10\ntrain: {}\nevaluation: {}\nmodels: [{name: A, method: sam, rh0: 1}]\n"
        "scales: {s: {}}\n"
    )
    with pytest.raises(BadInput, match="unknown setting 'rh0'"):
        load_recipe(str(bad), "s")
    bad.write_text(
        "name: x\ndataset: cifar10\ntrain: {}\nevaluation: {}\nmodels: [{name: A, method: standard}]\n"
        "scales: {s: {compute_budget: {hours: 8, cores: 0}}}\n"
    )
    with pytest.raises(BadInput, match="cores"):
        load_recipe(str(bad), "s")
    bad.write_text(
        "name: x\ndataset: cifar10\ntrain: {step_mode: grouped}\nevaluation: {}\n"
        "models: [{name: A, method: standard}]\nscales: {s: {}}\n"
    )
    with pytest.raises(BadInput, match="model 'A': step_mode grouped trains several seeds in one call"):
        load_recipe(str(bad), "s")
    bad.write_text("name: [unclosed\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_recipe(str(bad), "s")


SEEDED = """
name: seeded
dataset: cifar10-sample
train: {arch: preactresnet18, width: 0.125, epochs: 1, seed: 0}
models:
  - {name: ST, method: standard}
  - {name: SAM, method: sam, rho: 0.1, seeds: [3, 4]}
evaluation: {n_examples: 8}
scales:
  one: {}
  all: {seeds: [0, 1, 2]}
  some: {seeds: {ST: [5, 6]}}
  bad: {seeds: [0, 0]}
  typo: {seeds: {STT: [1]}}
  words: {seeds: [zero]}
"""


def test_training_seeds_each_make_a_run(tmp_path):
    path = tmp_path / "seeded.yaml"
    path.write_text(SEEDED)
    plans = lambda scale: [(m.name, m.seed, m.primary) for m in load_recipe(str(path), scale).models]  # noqa: E731
    assert plans("one") == [("ST", 0, True), ("SAM", 3, True), ("SAM", 4, False)]  # a model entry's seeds
    # a scale's list is for every model; first seeds before second ones
    assert plans("all") == [
        ("ST", 0, True),
        ("SAM", 0, True),
        ("ST", 1, False),
        ("SAM", 1, False),
        ("ST", 2, False),
        ("SAM", 2, False),
    ]
    assert plans("some") == [("ST", 5, True), ("SAM", 3, True), ("ST", 6, False), ("SAM", 4, False)]
    keys = [m.key for m in load_recipe(str(path), "all").models]
    assert len(set(keys)) == len(keys)  # the seed is a training setting: each seed its own run
    assert load_recipe(str(path), "all").describe()["models"][2]["seed"] == 1
    for scale, message in [
        ("bad", "repeat a seed"),
        ("typo", "unknown model 'STT'"),
        ("words", "non-negative integers"),
    ]:
        with pytest.raises(BadInput, match=message):
            load_recipe(str(path), scale)


def test_the_cpu_scale_trains_three_seeds_of_the_models_c1_to_c3_compare():
    cpu = load_recipe("paper-cifar10", "cpu")
    seeds = {}
    for m in cpu.models:
        seeds.setdefault(m.name, []).append(m.seed)
    assert seeds == {"ST": [0, 1, 2], "SAM-0.1": [0, 1, 2], "SAM-0.4": [0], "AT-Linf-2": [0, 1, 2], "AT-Linf-8": [0]}


def test_the_decisive_cpu_scale_runs_autoattack_on_fewer_images_than_pgd():
    from sam_bench.recipes.evaluation_block import evaluation_specs

    decisive = load_recipe("paper-cifar10", "cpu-decisive")
    seeds = {}
    for m in decisive.models:
        seeds.setdefault(m.name, []).append(m.seed)
    assert {name: len(s) for name, s in seeds.items()} == {
        "ST": 5,
        "SAM-0.1": 5,
        "SAM-0.2": 5,
        "SAM-0.4": 5,
        "AT-Linf-2": 3,
        "AT-Linf-8": 1,
    }
    assert decisive.compute_budget == {"hours": 8, "cores": 2}  # the 8 hours of this 2-core machine
    specs = evaluation_specs(decisive.evaluation)
    assert decisive.evaluation["n_examples"] == 2000
    assert [(s.attack, s.n_examples) for s in specs if s.attack != "pgd"] == [("clean", None), ("autoattack", 1000)]
    assert len([s for s in specs if s.attack == "pgd"]) == 6  # Linf 1, 2, 4, 8 and L2 16, 32 /255
    for bad, message in ((3000, "exceeds the evaluation's n_examples"), ("all", "must be a whole number")):
        evaluation = {**decisive.evaluation, "autoattack": {**decisive.evaluation["autoattack"], "n_examples": bad}}
        with pytest.raises(BadInput, match=message):
            evaluation_specs(evaluation)


@pytest.mark.parametrize("name", ["../../ESCAPED", "a/b", "..", ".hidden", "a\\b", "", "AT Linf 8", "C:x", "ST\n", "é"])
def test_a_model_name_that_is_no_safe_file_name_is_refused_when_the_recipe_is_read(tmp_path, name):
    """A model's name names its run folder (runs/<name>-<key>) and its results: `../../ESCAPED` wrote both outside
    the reproduction folder. Names are letters, digits, '.', '_', '-' and '+', not starting with a dot."""
    recipe = tmp_path / "escape.yaml"
    recipe.write_text(
        f'name: x\ndataset: cifar10\ntrain: {{}}\nevaluation: {{}}\nmodels: [{{name: "{name}", method: standard}}]\n'
        "scales: {s: {}}\n"
    )
    with pytest.raises(BadInput, match=r"model name .* letters, digits") as refused:
        load_recipe(str(recipe), "s")
    assert len(str(refused.value).splitlines()) == 1


def test_a_recipe_or_scale_name_that_would_leave_the_reproductions_folder_is_refused(tmp_path):
    """The recipe's name and the scale name the default folder reproductions/<recipe>-<scale>."""
    recipe = tmp_path / "escape.yaml"
    models = "models: [{name: ST, method: standard}]\n"
    recipe.write_text(f"name: ../x\ndataset: cifar10\ntrain: {{}}\nevaluation: {{}}\n{models}scales: {{s: {{}}}}\n")
    with pytest.raises(BadInput, match=r"recipe name '../x'"):
        load_recipe(str(recipe), "s")
    recipe.write_text(f"name: x\ndataset: cifar10\ntrain: {{}}\nevaluation: {{}}\n{models}scales: {{a/../b: {{}}}}\n")
    with pytest.raises(BadInput, match=r"scale name 'a/../b'"):
        load_recipe(str(recipe), "a/../b")


def test_every_committed_recipe_names_its_models_safely():
    from pathlib import Path

    import yaml

    recipes = sorted(Path(load_recipe.__globals__["RECIPE_DIR"]).glob("*.yaml"))
    recipes += sorted((Path(__file__).parent / "recipes").glob("*.yaml"))
    assert len(recipes) >= 8
    for path in recipes:
        for scale in yaml.safe_load(path.read_text()).get("scales") or {}:
            load_recipe(str(path), scale)  # every model name (and the recipe's, the scale's) passes
