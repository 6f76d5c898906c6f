"""How long the full-scale grid takes on one GPU (sam_bench/report/grid_minutes.py): the README and
docs/gpu.md hold the command's output, never typed; every run of the recipe is counted, each part measured
where the full scale's own runs measured it and estimated from them, as the module says, elsewhere."""

import json
from pathlib import Path

import pytest

from sam_bench.bench import marked_block
from sam_bench.errors import BadInput
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report import grid_minutes

ROOT = Path(__file__).resolve().parents[1]
FOLDER = "reproductions/paper-cifar10-full"
FULL = ROOT / FOLDER


@pytest.fixture(scope="module")
def grid():
    return grid_minutes.estimate(FULL)


def runs_by(grid) -> dict[tuple[str, int], grid_minutes.Run]:
    return {(r.name, r.seed): r for r in grid.runs}


def first_seed(name: str) -> str:
    """The run name of a model's seed 0 (its later seeds have runs of their own)."""
    (run,) = [
        m["name"] + "-" + m["key"]
        for m in json.loads((FULL / "plan.json").read_text())["models"]
        if m["name"] == name and m["seed"] == 0
    ]
    return run


def minutes_per_epoch(name: str) -> float:
    meta = json.loads((FULL / "runs" / first_seed(name) / "metadata.json").read_text())
    return meta["wall_time_s"] / 60 / meta["epochs_done"]


def test_the_docs_hold_the_commands_output(grid, monkeypatch):
    monkeypatch.chdir(ROOT)
    said = grid_minutes.sentence(grid, FOLDER)
    for doc in (ROOT / "README.md", ROOT / "docs" / "gpu.md"):
        assert marked_block.between(doc, grid_minutes.START, grid_minutes.END) == said, (
            f"{doc} is not the command's output: python -m sam_bench.report.grid_minutes {FOLDER} "
            "--write README.md docs/gpu.md"
        )
    assert grid_minutes.main([FOLDER]) == 0


def test_every_run_of_the_recipe_is_counted(grid):
    recipe = load_recipe("paper-cifar10", "full", device="cuda")
    assert [(r.name, r.seed) for r in grid.runs] == [(m.name, m.seed) for m in recipe.models]
    assert len({r.name for r in grid.runs}) == 17 and grid.device == "NVIDIA H200"
    assert grid.training == pytest.approx(sum(r.training for r in grid.runs))
    said = grid_minutes.sentence(grid, FOLDER)
    assert f"{len(grid.runs)} runs" in said and f"{(grid.training + grid.evaluation) / 60:.1f} hours" in said


def test_training_is_measured_where_it_ran_and_estimated_from_the_same_step_or_by_passes(grid):
    runs = runs_by(grid)
    st = runs[("ST", 0)]
    assert st.training_from == "measured" and st.training == pytest.approx(minutes_per_epoch("ST") * 100)
    at8 = runs[("AT-Linf-8", 0)]  # stopped after 16 of its 100 epochs: the rest at their rate
    assert at8.training_from == "measured in part" and at8.training == pytest.approx(
        minutes_per_epoch("AT-Linf-8") * 100
    )
    # a step's fewest minutes per epoch, as one run alone takes them (seed 1 of ST and SAM-0.1 shared the GPU)
    sam_step = min(minutes_per_epoch("SAM-0.1"), minutes_per_epoch("SAM-0.4")) * 100
    for name, seed in [("SAM-0.2", 0), ("SAM-0.05", 0), ("SAM-0.4", 1)]:  # the same step as SAM-0.1's and SAM-0.4's
        assert runs[(name, seed)].training_from == "estimated"
        assert runs[(name, seed)].training == pytest.approx(sam_step)
    assert runs[("SAM-0.1", 1)].training_from == "measured" and runs[("SAM-0.1", 1)].training == pytest.approx(sam_step)
    assert runs[("ST", 2)].training == pytest.approx(st.training)  # a later seed: its first seed's minutes
    assert runs[("AT-Linf-4", 0)].training == pytest.approx(at8.training)  # PGD-10 AT, as AT-Linf-8
    # 5-step AT has 6 passes a step, none measured: from PGD-10 AT's 11, the nearest in passes
    assert runs[("AT-Linf-2", 0)].training == pytest.approx(at8.training * 6 / 11)
    assert runs[("ASAM-0.5", 0)].training == pytest.approx(sam_step)  # 2 passes, as SAM's


def test_evaluation_takes_each_attacks_measured_minutes_and_estimates_the_rest(grid):
    runs = runs_by(grid)
    st = runs[("ST", 0)]
    results = json.loads((FULL / "results" / f"{first_seed('ST')}.json").read_text())
    made = sum(e["seconds"] + (e.get("chunks") or {}).get("probe_seconds", 0) for e in results["evaluations"])
    assert st.attacks_measured == len(results["evaluations"]) < st.attacks  # the recipe has gained attacks since
    assert st.evaluation > made / 60
    assert not st.floor and runs[("SAM-0.4", 0)].attacks_measured == 0  # trained, not yet evaluated
    # a later seed makes fewer attacks than a first one (AutoAttack's standard version on first seeds only)
    assert runs[("ST", 1)].attacks < st.attacks and runs[("ST", 1)].evaluation < st.evaluation
    # no adversarially trained model was evaluated on the GPU: theirs are at the others' minutes, a floor
    assert all(r.floor == r.robust for r in grid.runs)
    said = grid_minutes.sentence(grid, FOLDER)
    assert "the training of ST, SAM-0.1 and SAM-0.4 and the first epochs of AT-Linf-8" in said
    assert "for AT-Linf-8, AT-Linf-2" in said and "a floor" in said


def test_a_folder_with_no_gpu_run_is_refused_in_one_line(tmp_path):
    with pytest.raises(BadInput, match="no run of it trained on a GPU"):
        grid_minutes.estimate(ROOT / "reproductions" / "paper-cifar10-sample")
    assert grid_minutes.main([str(tmp_path)]) == 2
