"""TRADES and AWP at smoke size, end to end: tests/recipes/flat-at-test.yaml (ST, SAM, TRADES-Linf-8,
AWP-AT-Linf-8 on 64 sample images, one epoch) trains, enters the zoo under its methods' names, is evaluated like
the others (PGD and AutoAttack), ranked on the leaderboard, placed in the report's Pareto section, and timed by
`sam-bench cost`. Seconds; its models may be degenerate."""

import json
from pathlib import Path

import pytest

from sam_bench.experiments.reproduce import reproduce
from sam_bench.experiments.step_cost import measure

RECIPE = Path(__file__).parent / "recipes" / "flat-at-test.yaml"


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("flat-at") / "flat-at-test"
    reproduce(str(RECIPE), "test", out=out, device="cpu", progress=False)
    return out


def test_trades_and_awp_train_enter_the_zoo_and_are_evaluated_like_the_others(grid):
    plan = {m["name"]: m for m in json.loads((grid / "plan.json").read_text())["models"]}
    assert list(plan) == ["ST", "SAM-0.1", "TRADES-Linf-8", "AWP-AT-Linf-8"]
    for name, method, passes in (("TRADES-Linf-8", "trades", 4), ("AWP-AT-Linf-8", "awp-at", 4)):
        run = f"{name}-{plan[name]['key']}"
        meta = json.loads((grid / "runs" / run / "metadata.json").read_text())
        assert meta["status"] == "complete" and meta["method"] == method and meta["passes_per_step"] == passes
        results = json.loads((grid / "results" / f"{run}.json").read_text())
        attacks = {(e["attack"], e["eps"]) for e in results["evaluations"]}
        assert {("pgd", "2/255"), ("pgd", "8/255"), ("autoattack", "8/255")} <= attacks
    zoo = sorted(p.name for p in (grid / "model_zoo" / "cifar10" / "Linf").glob("*.json"))
    assert any(n.startswith("SamBench") and "TRADES_PRN18-w0.125_beta6_Linf-8" in n for n in zoo), zoo
    assert any("ATAWP_PRN18-w0.125_gamma0.005_Linf-8" in n for n in zoo), zoo
    board = (grid / "leaderboards" / "cifar10-Linf-sample.md").read_text()
    assert "TRADES-Linf-8 (flat-at-test, test scale)" in board and "AWP-AT-Linf-8 (flat-at-test" in board
    assert board.count("4 passes/step") == 2


def test_the_report_places_them_against_cost(grid):
    report = (grid / "REPORT.md").read_text()
    pareto = report[report.index("## Accuracy against training cost (Pareto)") :]
    assert "| TRADES-Linf-8 | TRADES | 4 |" in pareto and "| AWP-AT-Linf-8 | AT-AWP | 4 |" in pareto
    assert (grid / "pareto.png").is_file()


def test_cost_times_their_steps(grid):
    record = json.loads(measure(grid, rounds=6, steps=1, warmup=1, threads=1).read_text())
    found = {m["name"]: m for m in record["models"]}
    assert [found[n]["passes_per_step"] for n in ("ST", "SAM-0.1", "TRADES-Linf-8", "AWP-AT-Linf-8")] == [1, 2, 4, 4]
    assert found["TRADES-Linf-8"]["baseline"] == found["AWP-AT-Linf-8"]["baseline"] == "ST"
    assert found["TRADES-Linf-8"]["ratio"]["median"] > 0
