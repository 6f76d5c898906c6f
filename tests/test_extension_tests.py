"""Extension tests (questions beyond the paper's claims) fixed in a recipe before their data: read, checked,
written into the plan, and traced to the commit that fixed them apart from the claims' endpoints."""

from __future__ import annotations

import subprocess

import pytest

from sam_bench.errors import BadInput
from sam_bench.recipes.endpoints import Endpoints, set_in_commit
from sam_bench.recipes.recipe import load_recipe

BASE = """
name: extensions
dataset: cifar10-sample
train: {arch: preactresnet18, width: 0.125, epochs: 1, seed: 0}
models:
  - {name: ST, method: standard}
  - {name: SAM, method: sam, rho: 0.1}
  - {name: AT-8, method: at, attack_eps: 8/255}
evaluation:
  n_examples: 64
scales:
"""
SCALE = "  s: {seeds: {ST: [0, 1, 2], SAM: [0, 1, 2]}, confirmatory_seeds: {ST: [1, 2], SAM: [1, 2]}%s}\n"
E1 = "{attack: corruptions, set: cifar10-c-generated, images: 500, models: [SAM, ST], beside: [AT-8]}"


def _recipe(tmp_path, extension: str):
    path = tmp_path / "extensions.yaml"
    path.write_text(BASE + SCALE % (f", extension_tests: {{{extension}}}" if extension else ""))
    return path


def test_the_confirmatory_scale_fixes_the_corruptions_extension():
    recipe = load_recipe("paper-cifar10", "cpu-confirmatory")
    test = recipe.endpoints.extension_tests["E1"]
    assert (test.attack, test.corruption_set, test.models, test.beside) == (
        "corruptions",
        "cifar10-c-generated",
        ("SAM-0.1", "ST"),
        ("AT-Linf-8",),
    )
    assert len(recipe.endpoints.confirmatory_seeds["SAM-0.1"]) == 15
    assert Endpoints.from_plan(recipe.describe()) == recipe.endpoints  # plan.json keeps it as read


def test_the_full_scale_fixes_the_same_extension_on_the_official_set_with_the_generated_one_where_absent():
    recipe = load_recipe("paper-cifar10", "full")
    test = recipe.endpoints.extension_tests["E1"]
    assert (test.corruption_set, test.fallback_set, test.images) == ("cifar10-c", "cifar10-c-generated", 10_000)
    assert (test.models, test.beside) == (("SAM-0.1", "ST"), ("AT-Linf-8",))
    assert "cifar10-c-generated where its files are absent" in test.label()
    assert Endpoints.from_plan(recipe.describe()) == recipe.endpoints
    confirmatory = load_recipe("paper-cifar10", "cpu-confirmatory").endpoints.extension_tests["E1"]
    assert confirmatory.fallback_set is None and "fallback_set" not in confirmatory.record()


@pytest.mark.parametrize(
    "extension, message",
    [
        ("C5: " + E1, "named E1, E2"),
        ("E1: " + E1.replace("images", "fallback_set: cifar10-c, images"), "fallback_set is a generated set"),
        ("E1: " + E1.replace("cifar10-c-generated", "cifar10-c-fake"), "unknown corruption set"),
        ("E1: " + E1.replace("[SAM, ST]", "[SAM, ASAM]"), "'ASAM' is not a model of this scale"),
        ("E1: " + E1.replace("[SAM, ST]", "[SAM, AT-8]"), "as many confirmatory seeds each"),
        ("E1: " + E1.replace("corruptions", "pgd"), "unknown|corruptions"),
    ],
)
def test_a_bad_extension_test_is_one_line(tmp_path, extension, message):
    with pytest.raises(BadInput, match=message):
        load_recipe(str(_recipe(tmp_path, extension)), "s")


def test_adding_an_extension_leaves_the_claims_commit_as_it_was(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    path = _recipe(tmp_path, "")
    path.write_text(
        path.read_text().replace(
            "confirmatory_seeds:", "primary_tests: {C1: {attack: clean, images: 64}}, confirmatory_seeds:"
        )
    )
    git("add", ".")
    git("commit", "-q", "-m", "claims")
    claims = git("rev-parse", "HEAD")
    before = load_recipe(str(path), "s").endpoints
    assert set_in_commit(path, "extensions", "s", before)["commit"] == claims
    head, tail = path.read_text().rsplit("}\n", 1)
    path.write_text(head + f", extension_tests: {{E1: {E1}}}}}\n" + tail)
    git("commit", "-qam", "extension")
    extension = git("rev-parse", "HEAD")
    after = load_recipe(str(path), "s").endpoints
    assert set(after.extension_tests) == {"E1"}
    assert set_in_commit(path, "extensions", "s", after)["commit"] == claims  # the claims' commit stays
    assert set_in_commit(path, "extensions", "s", after, part="extension_tests")["commit"] == extension
