"""Legal but doubtful budgets are warned about (sam_bench.threat_models.doubtful_budget): an L2 eps below the smallest
any shipped recipe uses, an Linf eps above 16/255; the paper's own budgets never are."""

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.eps import parse_eps
from sam_bench.recipes import recipe as recipes
from sam_bench.recipes.evaluation_block import evaluation_specs
from sam_bench.threat_models import LARGEST_USUAL_LINF, SMALLEST_USUAL_L2, doubtful_budget
from sam_bench.training import method_table

PAPER_BUDGETS = [("Linf", e) for e in ("1/255", "2/255", "4/255", "8/255")] + [
    ("L2", e) for e in ("16/255", "32/255", "64/255", "128/255", "0.5")
]


@pytest.mark.parametrize("norm,eps", [*PAPER_BUDGETS, ("Linf", "0"), ("L2", "0"), ("Linf", "16/255")])
def test_the_papers_budgets_and_eps_0_never_warn(norm, eps):
    assert doubtful_budget(parse_eps(eps), norm) is None


@pytest.mark.parametrize(
    "norm,eps,said",
    [
        ("L2", "8/255", "L2 eps 8/255 is below 16/255"),
        ("L2", "0.05", "L2 eps 0.05 is below 16/255"),
        ("Linf", "0.5", "Linf eps 0.5 is above 16/255"),
        ("Linf", "17/255", "Linf eps 17/255 is above 16/255"),
    ],
)
def test_doubtful_budgets_warn_with_robustbenchs_standard_budgets(norm, eps, said):
    message = doubtful_budget(parse_eps(eps), norm)
    assert message is not None and message.startswith(said)
    assert "RobustBench's standard budgets are Linf 8/255 and L2 0.5" in message


def _recipe_budgets() -> set[tuple[str, float]]:
    """(norm, eps) of every training attack and every evaluation of every scale of every shipped recipe."""
    found = set()
    for name in recipes.available():
        data, _ = recipes._read(name)
        for scale in data["scales"]:
            recipe = recipes.load_recipe(name, scale)
            for plan in recipe.models:
                if method_table.uses_attack(plan.config.method):
                    found.add((plan.config.attack_norm, parse_eps(plan.config.attack_eps)))
            found |= {(spec.norm, spec.eps) for spec in evaluation_specs(recipe.evaluation) if spec.norm}
    return found


def test_the_bounds_are_the_shipped_recipes_and_none_of_their_budgets_warns():
    budgets = _recipe_budgets()
    assert {norm for norm, _ in budgets} == {"Linf", "L2"}
    assert [(norm, eps) for norm, eps in budgets if doubtful_budget(eps, norm)] == []
    assert min(eps for norm, eps in budgets if norm == "L2" and eps > 0) == pytest.approx(SMALLEST_USUAL_L2)
    assert max(eps for norm, eps in budgets if norm == "Linf") <= LARGEST_USUAL_LINF


@pytest.mark.parametrize("norm,eps,warned", [("L2", "8/255", True), ("Linf", "0.5", True), ("L2", "16/255", False)])
def test_train_says_a_doubtful_attack_budget(tmp_path, monkeypatch, norm, eps, warned):
    import sam_bench.training.loop as loop

    monkeypatch.setattr(loop, "train", lambda cfg, out, **kwargs: {"status": "stopped", "epochs_done": 0})
    args = ["train", "--method", "at", "--attack-norm", norm, "--attack-eps", eps, "--dataset", "synthetic"]
    result = CliRunner().invoke(cli, [*args, "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert ("warning: --attack-eps: " in result.stderr) is warned
    assert "RobustBench's standard budgets" in result.stderr if warned else result.stderr == ""


@pytest.mark.parametrize("eps", ["0.03", "0.031", "0.0315", "0.033"])
def test_an_linf_eps_near_robustbenchs_but_not_it_warns(eps):
    message = doubtful_budget(parse_eps(eps), "Linf")
    assert message == (
        f"Linf eps {eps} is near RobustBench's budget 8/255 (0.0314) but not it (a rounded 8/255?); "
        "RobustBench's board takes results at 8/255 only"
    )
    assert "near RobustBench's" not in (doubtful_budget(parse_eps(eps), "L2") or "")


@pytest.mark.parametrize("eps", ["8/255", "7/255", "9/255", "0.0275"])
def test_linf_budgets_apart_from_robustbenchs_do_not_warn(eps):
    assert doubtful_budget(parse_eps(eps), "Linf") is None


def test_the_threat_model_is_taken_in_any_case_and_0_03_warned(tmp_path, monkeypatch):
    import sam_bench.training.loop as loop

    trained = {}
    monkeypatch.setattr(
        loop, "train", lambda cfg, out, **kwargs: trained.update(cfg=cfg) or {"status": "stopped", "epochs_done": 0}
    )
    args = ["train", "--method", "at", "--attack-norm", "linf", "--attack-eps", "0.03", "--dataset", "synthetic"]
    result = CliRunner().invoke(cli, [*args, "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert trained["cfg"].attack_norm == "Linf"
    assert "warning: --attack-eps: Linf eps 0.03 is near RobustBench's budget 8/255 (0.0314)" in result.stderr
    from sam_bench.cli.options import THREAT_MODEL

    assert [THREAT_MODEL.convert(text, None, None) for text in ("linf", "LINF", "l2", "L2")] == [
        "Linf",
        "Linf",
        "L2",
        "L2",
    ]
    groups = cli.commands
    takers = [groups["evaluate"], groups["zoo"].commands["add"], groups["leaderboard"].commands["render"]]
    assert all(any(param.type == THREAT_MODEL for param in command.params) for command in takers)
