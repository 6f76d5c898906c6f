"""A run of a reproduction's plan as a typed record: every committed plan.json read run by run and written back
byte for byte; the recipe's grid written through the same record; a run that names no name, key or settings
refused in one line."""

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.recipes.plan_entry import PlanEntry, plan_entries
from sam_bench.recipes.recipe import load_recipe
from sam_bench.training.config import TrainConfig

ROOT = Path(__file__).parent.parent
COMMITTED = sorted((ROOT / "reproductions").glob("*/plan.json"))


def test_every_committed_plan_round_trips_byte_for_byte(tmp_path):
    assert COMMITTED
    for path in COMMITTED:
        plan = json.loads(path.read_text())
        runs = plan_entries(plan, str(path))
        assert [r.name for r in runs] == [m["name"] for m in plan["models"]]
        files.write_json(tmp_path / "plan.json", {**plan, "models": [r.to_json() for r in runs]})
        assert (tmp_path / "plan.json").read_bytes() == path.read_bytes(), path


def test_a_run_answers_by_name():
    plan = json.loads((ROOT / "reproductions" / "paper-cifar10-cpu-decisive" / "plan.json").read_text())
    written, run = plan["models"][0], plan_entries(plan)[0]
    assert (run.name, run.key, run.seed, run.primary) == (
        written["name"],
        written["key"],
        written["seed"],
        written["primary"],
    )
    assert run.run_name == f"{written['name']}-{written['key']}" and run.config == written["config"]
    assert run.train_config == TrainConfig.from_dict(written["config"])
    with pytest.raises(FrozenInstanceError):
        run.seed = 3


def test_the_grid_is_written_as_the_plan_reads_it():
    recipe = load_recipe("paper-cifar10", "smoke")
    described = recipe.describe()["models"]
    for planned, written in zip(recipe.models, described, strict=True):
        run = PlanEntry.of(written)
        assert (run.name, run.key, run.seed, run.primary) == (planned.name, planned.key, planned.seed, planned.primary)
        assert run.train_config == planned.config and run.to_json() == written


def test_a_run_written_before_seeds_were_recorded_takes_its_settings_seed():
    run = PlanEntry.of({"name": "ST", "key": "abc", "config": {"seed": 4}})
    assert (run.seed, run.primary) == (4, True)


@pytest.mark.parametrize(
    "models",
    [{"name": "ST"}, [{"name": "ST", "key": "abc"}], [{"name": 1, "key": "abc", "config": {}}], ["ST"]],
)
def test_a_plan_whose_runs_are_not_named_is_refused_in_one_line(models):
    with pytest.raises(SamBenchError, match="`models` is not a list of runs"):
        plan_entries({"models": models}, "x/plan.json")
