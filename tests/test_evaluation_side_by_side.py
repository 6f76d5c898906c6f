"""Two models' evaluations side by side in one process (runtime/lanes.py, as experiments/parallel.py runs them): the
clean pass, PGD and AutoAttack's APGD-CE + APGD-T, their forward passes issued in turn, give each model the results,
per-image outcomes included, of its evaluation alone; an evaluation that fails ends alone."""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch

from sam_bench.errors import BadInput
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.specs import make_attacks
from sam_bench.runtime import lanes


def evaluate_taking_turns(model: torch.nn.Module, dataset, attacks, **options) -> dict:
    """`evaluate`, passing the lane's turn before each forward pass of `model` (as the norm-ball evaluator does)."""
    with lanes.passing_turns(model):
        return evaluate(model, dataset, attacks, **options)


def evaluate_side_by_side(jobs: list[tuple], device: str) -> list[lanes.Outcome]:
    """Each job (model, dataset, attacks, evaluate's other options) in a lane of its own on `device`."""
    calls = [
        partial(evaluate_taking_turns, m, data, a, **{**options, "device": device}) for m, data, a, options in jobs
    ]
    return lanes.run(calls, len(calls), device)


N = 64  # four batches of 16 a chunk: each batch's random start is drawn after the forward passes before it


def attacks(seed: int) -> list:
    """PGD from a random start (two steps at budgets where the tiny model's outcomes depend on where it starts) and
    APGD-CE + APGD-T."""
    return make_attacks("pgd", "Linf", ["8/255", "16/255"], steps=2, seed=seed) + make_attacks(
        "autoattack", "Linf", ["2/255"], version="custom", attacks=["apgd-ce", "apgd-t"], seed=seed
    )


def made(results: dict) -> dict:
    """A results record without its clocks and dates."""
    kept = {k: v for k, v in results.items() if k not in ("created", "environment")}
    kept["evaluations"] = [
        {
            **{k: v for k, v in e.items() if not k.endswith("seconds") and k != "chunks"},
            "chunks": {k: v for k, v in e["chunks"].items() if "second" not in k},
        }
        for e in results["evaluations"]
    ]
    return kept


@pytest.fixture(scope="module")
def models(tiny_net) -> list[torch.nn.Module]:
    """The tiny trained CNN and a neighbour of it (its weights moved a little by a fixed generator)."""
    other = copy.deepcopy(tiny_net)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * p.abs().mean() * torch.randn(p.shape, generator=generator))
    return [tiny_net, other.eval()]


def test_evaluations_side_by_side_give_each_model_its_results_alone(models, sample):
    options = dict(n_examples=N, batch_size=16, progress=False)
    alone = [made(evaluate(m, sample, attacks(seed), **options)) for seed, m in enumerate(models)]
    assert all(0 < r["evaluations"][2]["breakdown"]["apgd-ce"] for r in alone)  # APGD-T had images to attack
    outcomes = evaluate_side_by_side([(m, sample, attacks(seed), options) for seed, m in enumerate(models)], "cpu")
    assert [o.error for o in outcomes] == [None, None]
    assert [made(o.value) for o in outcomes] == alone
    assert alone[0]["clean_outcomes"] != alone[1]["clean_outcomes"]  # two models, not one


def test_an_evaluation_that_fails_ends_alone(models, sample):
    options = dict(n_examples=N, batch_size=16, progress=False)
    alone = made(evaluate(models[1], sample, attacks(1), **options))
    jobs = [(models[0], sample, attacks(0), {**options, "n_examples": 10**6}), (models[1], sample, attacks(1), options)]
    failed, finished = evaluate_side_by_side(jobs, "cpu")
    assert isinstance(failed.error, BadInput) and "--n-examples must be between 1 and" in str(failed.error)
    assert finished.error is None and made(finished.value) == alone


def test_an_evaluation_passes_its_turn_before_each_forward_pass_of_its_model(tiny_net, sample):
    forwards, turns, results = [], [], []
    counting = tiny_net.register_forward_pre_hook(lambda module, args: forwards.append(1))

    def evaluating():
        specs = make_attacks("pgd", "Linf", ["2/255"], steps=2)
        results.append(evaluate_taking_turns(tiny_net, sample, specs, n_examples=8, batch_size=4, progress=False))

    def watching():
        while not results:
            turns.append(1)
            lanes.turn()

    try:
        lanes.run([evaluating, watching], 2)
    finally:
        counting.remove()
    assert len(forwards) > 8 and len(turns) == len(forwards)
