"""The corruptions threat model arrives as entries of the evaluation's tables: its record in
sam_bench.threat_models (no norm ball, its budget the corruption set) and its attack in
sam_bench.evaluation.attack_table (the corruption pass, run by the corruption runner)."""

from __future__ import annotations

import pytest

from sam_bench import schema, threat_models
from sam_bench.errors import BadInput


def test_corruptions_are_a_threat_model_that_is_no_norm_ball():
    tm = threat_models.threat_model("corruptions")
    assert tm.norm is None and tm.robustbench_budget is None
    assert tm.data == "corruption sets" and tm.headline == "corruptions_acc"
    assert threat_models.names() == ("Linf", "L2", "corruptions")
    assert "corruptions" not in threat_models.norm_names()
    assert threat_models.robustbench_budgets() == {"Linf": "8/255", "L2": "0.5"}
    assert "corruptions" in schema.load("zoo-entry")["properties"]["threat_model"]["enum"]


@pytest.mark.parametrize("eps", ["8/255", "0", 0.5])
def test_an_eps_given_to_corruptions_is_refused_in_one_line(eps):
    with pytest.raises(BadInput) as refused:
        threat_models.threat_model("corruptions").parse_budget(eps)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("corruptions take no eps")
    assert "corruption set" in message


def test_the_doubtful_budget_rule_names_only_budgets_that_are_an_eps():
    warning = threat_models.doubtful_budget(0.5, "Linf")
    assert "Linf 8/255 and L2 0.5" in warning and "corruptions" not in warning
