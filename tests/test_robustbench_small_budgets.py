"""The robustbench-small-budgets recipe end to end at its smoke scale: a model trained elsewhere, imported from a
RobustBench-format checkpoint made here, evaluated beside the grid's ST, SAM and AT (APGD-CE at the claims' small
budgets on 48 sample images), and the report's section on it; bad zoo ids refused with nothing written."""

from __future__ import annotations

import pytest
import torch
from test_zoo_import import robustbench_checkpoint

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.experiments.reproduce import reproduce
from sam_bench.models import create_model
from sam_bench.zoo import imported

RECIPE = "robustbench-small-budgets"
MODEL_ID = "Me2026AT_small"
CIFAR = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2471, 0.2435, 0.2616))


def import_model(tmp_path, model_id=MODEL_ID, dataset="cifar10", threat_model="Linf"):
    """A PreActResNet-18 of 1/16 width (untrained: the pipeline is tested, not the model) saved as RobustBench stores
    its checkpoints, imported with a claim at Linf 2/255."""
    classes = 100 if dataset == "cifar100" else 10
    arch = imported.architecture_spec("preactresnet18", width=0.0625, num_classes=classes, **CIFAR)
    torch.manual_seed(0)
    robustbench_checkpoint(tmp_path / f"{model_id}.pt", create_model(arch).eval())
    claims = [imported.claim("Linf", "2/255", 80.5, 60.25, "https://example.org/model_info.json")]
    trained = imported.trained_elsewhere("at", "PGD AT of a lab elsewhere", "https://example.org/p", "cifar10", claims)
    return imported.import_file(
        tmp_path / f"{model_id}.pt",
        arch,
        trained,
        model_id,
        dataset=dataset,
        threat_model=threat_model,
        zoo_dir=tmp_path / "zoo",
    )


def test_a_model_trained_elsewhere_is_evaluated_beside_the_grid_and_reported_without_a_run(tmp_path):
    torch.set_num_threads(1)
    entry = import_model(tmp_path)
    out = tmp_path / "repro"
    complete, report = reproduce(
        RECIPE, "smoke", out=out, zoo_dir=tmp_path / "zoo", zoo_models=[MODEL_ID], progress=False, device="cpu"
    )
    assert complete
    results = files.read_json(out / "results" / f"{MODEL_ID}.json")
    assert results["model"]["weights_sha256"] == entry["weights_sha256"]  # the zoo entry's weights, as evaluated
    assert results["reproduce"]["trained_elsewhere"]["description"] == "PGD AT of a lab elsewhere"
    budgets = {(e["norm"], e["eps"]) for e in results["evaluations"] if e["attack"] == "autoattack"}
    assert budgets == {("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")}
    assert not (out / "runs" / MODEL_ID).exists() and not any(
        p.name.startswith(MODEL_ID) for p in (out / "runs").iterdir()
    )
    text = report.read_text()
    section = text[text.index("## Models trained elsewhere") :]
    measured = next(
        e for e in results["evaluations"] if (e["attack"], e["norm"], e["eps"]) == ("autoattack", "Linf", "2/255")
    )
    clean = f"{100 * results['clean_acc']:.1f}%"
    claim_row = (
        f"| `{MODEL_ID}` | Linf 2/255 | 80.5% | {clean} | 60.25% | {100 * measured['robust_acc']:.1f}% | "
        "https://example.org/model_info.json |"
    )
    assert claim_row in section
    for name in ("ST", "SAM-0.1", "AT-Linf-2"):
        assert f"| {name} | here (seed 0) |" in section
    assert f"| `{MODEL_ID}` | elsewhere (PGD AT of a lab elsewhere) | {clean} |" in section


@pytest.mark.parametrize(
    "model_id, dataset, threat_model, words",
    [
        ("Nobody2026Missing_x", None, None, "unknown model id"),
        ("Me2026AT_c100", "cifar100", "Linf", "is a cifar100 model; this recipe evaluates cifar10-sample"),
        (
            "Me2026AT_corr",
            "cifar10",
            "corruptions",
            "is a corruptions model; this recipe's AutoAttack attacks L2 and Linf",
        ),
    ],
)
def test_a_zoo_model_the_recipe_cannot_evaluate_is_refused_with_nothing_written(
    tmp_path, model_id, dataset, threat_model, words
):
    if dataset:
        import_model(tmp_path, model_id, dataset, threat_model)
    out = tmp_path / "repro"
    with pytest.raises(BadInput, match=words):
        reproduce(RECIPE, "smoke", out=out, zoo_dir=tmp_path / "zoo", zoo_models=[model_id], progress=False)
    assert not out.exists()
