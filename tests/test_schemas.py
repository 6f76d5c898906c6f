"""One schema per file type (sam_bench/schemas/*.schema.json), checked by sam_bench.schema where a
file enters: every committed file of each type passes its reader's checks, and the checker agrees
with the `jsonschema` package (where installed) on those files and on broken copies of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from sam_bench import schema
from sam_bench.bench import probe
from sam_bench.evaluation import recheck, results_file
from sam_bench.leaderboard import board, corruptions_board
from sam_bench.recipes.recipe import load_recipe
from sam_bench.rundir.model import read_metadata
from sam_bench.zoo import store as zoo

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = {  # every file of each type in the repository
    "run-metadata": sorted(ROOT.glob("reproductions/*/runs/*/metadata.json")),
    "zoo-entry": sorted(ROOT.glob("model_zoo/*/*/*.json")),
    "eval-results": sorted(p for p in ROOT.glob("reproductions/*/results/*.json") if ".partial" not in p.name),
    # the corruptions boards' entries are read by their board (test_committed_corruptions_entries_pass_their_board)
    "leaderboard-entry": sorted(
        p for p in ROOT.glob("leaderboards/*/*/*.json") if p.parent.name not in corruptions_board.FOLDERS
    ),
    "recipe": sorted([*ROOT.glob("sam_bench/recipes/*.yaml"), *ROOT.glob("tests/recipes/*.yaml")]),
    "recheck": sorted(ROOT.glob("reproductions/*/recheck.json")),
    "robustbench-references": sorted(ROOT.glob("sam_bench/leaderboard/published/*.json")),
    "probe": sorted(ROOT.glob("tests/probes/*.probe.json")),  # none measured yet: the synthetic fixture
}


def read(path: Path):
    return yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())


def test_every_kind_has_committed_files_and_a_schema_file():
    assert set(COMMITTED) == set(schema.KINDS)
    for kind, paths in COMMITTED.items():
        assert paths, kind
        assert schema.load(kind)["$id"].endswith(f"/{kind}.schema.json")


@pytest.mark.parametrize("kind", schema.KINDS)
def test_every_committed_file_passes_where_it_enters(kind):
    for path in COMMITTED[kind]:
        if kind == "run-metadata":
            read_metadata(path.parent)
        elif kind == "zoo-entry":
            zoo.ZooEntry.read(path)
        elif kind == "eval-results":
            results_file.read(path)
        elif kind == "leaderboard-entry":
            board.read_entry(path)
        elif kind == "recheck":
            recheck.read(path)
        elif kind == "probe":
            probe.read(path)
        else:
            for scale in read(path).get("scales") or {}:
                load_recipe(str(path), scale)


# ---------------------------------------------------------------- agreement with jsonschema


def _leaves(node, path=()):
    """(path, value) of every field, parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), value
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:2]):  # the first two items of a list stand for the rest
            yield (*path, i), value
            yield from _leaves(value, (*path, i))


def _set(doc, path, value, delete=False):
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def broken_copies(doc, limit=150):
    """Copies of `doc` with one field deleted or replaced by a value of another type or range."""
    edits = []
    for path, _ in _leaves(doc):
        if isinstance(path[-1], str):
            edits.append((path, None, True))
        edits += [(path, value, False) for value in (None, "x", -1, 10**9, 0.5, [], {}, True)]
    step = max(1, len(edits) // limit)
    return [_set(doc, path, value, delete) for path, value, delete in edits[::step]]


@pytest.fixture(scope="module")
def validators():
    jsonschema = pytest.importorskip("jsonschema")  # a test dependency only
    referencing = pytest.importorskip("referencing")
    schemas = [schema.load(kind) for kind in schema.KINDS]
    for s in schemas:
        jsonschema.Draft202012Validator.check_schema(s)
    registry = referencing.Registry().with_resources((s["$id"], referencing.Resource.from_contents(s)) for s in schemas)
    return {kind: jsonschema.Draft202012Validator(schema.load(kind), registry=registry) for kind in schema.KINDS}


@pytest.mark.parametrize("kind", schema.KINDS)
def test_the_checker_agrees_with_jsonschema(validators, kind):
    checked = refused = 0
    for path in COMMITTED[kind][:2]:
        doc = read(path)
        for variant in [doc, *broken_copies(doc)]:
            ours = schema.find(kind, variant)
            theirs = next(iter(validators[kind].iter_errors(variant)), None)
            assert (ours is None) == (theirs is None), f"{path.name}: ours {ours!r}, jsonschema {theirs!r}"
            checked += 1
            refused += ours is not None
    assert refused > checked // 4  # the broken copies do test something


def test_stricter_than_json_schema_where_it_matters():
    """A whole number must be written as one, and a number must be finite (json reads Infinity)."""
    config = "#/$defs/config"
    assert schema.find("run-metadata", {"epochs": 1.0}, ref=config) == "epochs: 1.0 is not a whole number"
    assert schema.find("run-metadata", {"rho": float("inf")}, ref=config) == "rho: inf is not a finite number"
    assert schema.find("run-metadata", {"epochs": True}, ref=config) == "epochs: true is not a whole number"
    assert schema.find("run-metadata", {"epochs": 3, "rho": None}, ref=config) is None


def test_committed_corruptions_entries_pass_their_board():
    """A corruptions board's entries enter through `checked_rows`, which recomputes every figure from the results
    file each names and refuses an entry that disagrees."""
    found = 0
    for dataset, board_name in corruptions_board.boards(ROOT / "leaderboards"):
        rows = corruptions_board.checked_rows(dataset, board_name, ROOT / "leaderboards")
        found += len(rows)
    assert found == len([p for p in ROOT.glob("leaderboards/*/*/*.json") if p.parent.name in corruptions_board.FOLDERS])
