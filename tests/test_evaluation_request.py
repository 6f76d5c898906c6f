"""An evaluation call's pre-flight (sam_bench.evaluation.request) refuses without click, before any model loads
(the defaults are read from `evaluate`'s options; the module itself imports no click)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sam_bench.cli.evaluate import evaluate_command
from sam_bench.errors import BadInput
from sam_bench.evaluation import request

DEFAULTS = {param.name: param.default for param in evaluate_command.params}  # every option left at its default


def build(models=("no-such-model",), given=(), **options):
    said: list[str] = []
    return request.build({**DEFAULTS, "models": models, **options}, given, said.append)


def test_an_option_the_attack_does_not_read_is_refused_when_typed_only():
    with pytest.raises(BadInput, match=r"^--steps applies to --attack pgd, not to --attack clean; leave it out$"):
        build(attack="clean", given={"attack", "steps"})
    with pytest.raises(BadInput, match=r"^--version applies to --attack autoattack, not to --attack pgd"):
        build(attack="pgd", given={"version"})


def test_a_threat_model_that_is_no_norm_ball_is_its_own_attack():
    with pytest.raises(BadInput, match=r"^--threat-model corruptions runs --attack corruptions, not --attack pgd"):
        build(attack="pgd", norm="corruptions", given={"attack", "norm"})
    with pytest.raises(BadInput, match=r"^--attack corruptions searches no norm ball; leave --norm Linf out$"):
        build(attack="corruptions", given={"attack", "norm"})


def test_restarts_with_a_fixed_autoattack_version_and_an_empty_eps_are_refused():
    with pytest.raises(BadInput, match=r"^--restarts applies to AutoAttack --version custom"):
        build(restarts=3, given={"restarts"})
    with pytest.raises(BadInput, match=r"^--eps is empty"):  # --attacks alone implies --version custom
        build(restarts=3, attacks=["apgd-ce"], given={"restarts", "attacks"}, eps=",")


def test_plot_names_an_image_file_of_an_attack_with_a_budget():
    with pytest.raises(BadInput, match=r"^--plot curve\.txt: name an image file"):
        build(plot="curve.txt")
    with pytest.raises(BadInput, match=r"^--plot draws robust accuracy against eps"):
        build(attack="clean", plot="curve.png")


def test_out_with_several_models_is_a_folder(tmp_path):
    with pytest.raises(BadInput, match=r"with several models --out is a folder for their results files$"):
        build(models=("a", "b"), out=str(tmp_path / "both.json"))


def test_the_module_imports_no_click():
    tree = ast.parse(Path(request.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] == "click" or m.startswith("sam_bench.cli")}
