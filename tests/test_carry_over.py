"""An evaluation that gains an attack carries over the attacks an earlier evaluation of the same model already
has (sam_bench.evaluation.carry_over): the same entry, derived again from its per-image outcomes, and no attack
run; anything that decides an outcome differently (settings, images, precision, weights) is attacked again, and
outcomes that cannot be this model's on these images are not taken."""

import copy

import numpy as np
import pytest
import torch

from sam_bench.data import load_dataset
from sam_bench.evaluation import evaluate as ev
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.specs import AttackSpec, make_attacks
from sam_bench.training.loop import TrainConfig, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("carry") / "run"
    config = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64, dataset="cifar10-sample", device="cpu"
    )
    train(config, out, progress=False)
    model, info = load_model_ref(str(out))
    return model, info, load_dataset("cifar10-sample")


def counted(specs, calls):
    """The specs with PGD's runner counting the chunks it attacks in `calls`."""

    def runner(*args, **kw):
        calls.append(1)
        return ev.RUNNERS["pgd"](*args, **kw)

    return [AttackSpec(s.attack, s.norm, s.eps, s.settings, runner=runner, n_examples=s.n_examples) for s in specs]


KW = dict(n_examples=32, batch_size=16, chunk_size=16, progress=False)


def test_an_attack_the_earlier_results_hold_is_carried_over_and_only_the_new_one_runs(tiny):
    model, info, data = tiny
    first = evaluate(model, data, make_attacks("pgd", "Linf", ["2/255"], steps=2), model_info=info, **KW)
    calls: list = []
    gained = counted(make_attacks("pgd", "Linf", ["2/255", "8/255"], steps=2), calls)
    second = evaluate(model, data, gained, model_info=info, earlier=first, **KW)
    assert len(calls) == 2  # the two chunks of 8/255 only
    old, kept = first["evaluations"][0], second["evaluations"][0]
    for key in ("robust_acc", "clean_acc", "outcomes", "per_class_robust_acc", "seconds", "settings"):
        assert kept[key] == old[key]
    assert (
        kept["chunks"]["carried_from"] == first["created"] and "carried_from" not in second["evaluations"][1]["chunks"]
    )
    # the same specs fresh: the same numbers (the carried entry is what attacking again would give)
    fresh = evaluate(model, data, make_attacks("pgd", "Linf", ["2/255", "8/255"], steps=2), model_info=info, **KW)
    assert [e["outcomes"] for e in fresh["evaluations"]] == [e["outcomes"] for e in second["evaluations"]]


@pytest.mark.parametrize(
    "change",
    ["steps", "images", "precision", "weights", "impossible outcomes"],
)
def test_what_decides_an_outcome_differently_is_attacked_again(tiny, change):
    model, info, data = tiny
    specs = make_attacks("pgd", "Linf", ["2/255"], steps=2)
    first = evaluate(model, data, specs, model_info=info, **KW)
    earlier = copy.deepcopy(first)
    kwargs = dict(KW)
    if change == "steps":
        specs = make_attacks("pgd", "Linf", ["2/255"], steps=3)
    elif change == "images":
        kwargs["n_examples"] = 48
    elif change == "precision":
        earlier["precision"] = "bf16"
    elif change == "weights":
        earlier["model"]["weights_sha256"] = "0" * 64
    else:  # a robust bit on an image the clean pass gets wrong: not this model's outcomes
        clean = outcomes.decode(first["clean_outcomes"])
        flags = outcomes.decode(earlier["evaluations"][0]["outcomes"])
        assert not clean.all(), "an image the model gets wrong, to mark robust"
        flags[np.argmin(clean)] = True
        earlier["evaluations"][0]["outcomes"] = outcomes.encode(flags)
    calls: list = []
    evaluate(model, data, counted(specs, calls), model_info=info, earlier=earlier, **kwargs)
    assert calls, f"a changed {change} must be attacked again"


def test_a_grid_that_gains_an_attack_evaluates_only_that_attack(tmp_path, monkeypatch):
    from sam_bench.experiments.reproduce import reproduce

    recipe = tmp_path / "grid.yaml"
    head = (
        "name: grid\ndataset: cifar10-sample\ntrain: {arch: preactresnet18, width: 0.125, epochs: 1, batch_size: 64, "
        "n_train: 128, seed: 0}\nmodels:\n  - {name: ST, method: standard}\n"
    )
    recipe.write_text(
        head + "evaluation: {n_examples: 32, pgd: {steps: 2, Linf: {eps: [2/255]}}}\nscales: {s: {publish: false}}\n"
    )
    out = tmp_path / "grid-s"
    reproduce(str(recipe), "s", out=out, device="cpu", progress=False)
    import json

    (path,) = (out / "results").glob("ST-*.json")
    before = json.loads(path.read_text())
    calls: list = []
    real = ev.RUNNERS["pgd"]

    def runner(*args, **kw):
        calls.append(args[1] if len(args) > 1 else None)
        return real(*args, **kw)

    monkeypatch.setitem(ev.RUNNERS, "pgd", runner)
    recipe.write_text(
        head
        + "evaluation: {n_examples: 32, pgd: {steps: 2, Linf: {eps: [2/255, 8/255]}}}\nscales: {s: {publish: false}}\n"
    )
    reproduce(str(recipe), "s", out=out, device="cpu", progress=False)
    after = json.loads(path.read_text())
    # the clean pass, PGD at 2/255 (carried over) and at 8/255 (attacked: one chunk of 32 images)
    assert len(calls) == 1 and [e["eps"] for e in after["evaluations"]] == ["0", "2/255", "8/255"]
    assert after["evaluations"][1]["outcomes"] == before["evaluations"][1]["outcomes"]
    assert after["evaluations"][1]["chunks"]["carried_from"] == before["created"]
    assert "carried_from" not in after["evaluations"][2]["chunks"]
