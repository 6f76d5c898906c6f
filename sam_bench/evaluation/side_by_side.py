"""Several models' evaluations side by side in one process: each `evaluate` as it runs alone, in a lane of its own
(runtime/lanes.py; on a GPU its own CUDA stream), passing its turn before each forward pass of its model, so
that the host issues the models' attacks in turn and a GPU runs their kernels side by side.

Each evaluation draws from the lane's own random state (an attack chunk's seed is set and its draws taken
inside its turns) and runs with the lane's own math switches (scoring in true fp32, the search in its
`search_math`), so every model's per-image outcomes are those of its evaluation alone on the same device.
An evaluation that fails (or stops at the time limit: `EvaluationStopped`) ends alone; the others finish.
"""

from __future__ import annotations

from functools import partial

import torch

from sam_bench.evaluation.evaluate import evaluate
from sam_bench.runtime import lanes


def evaluate_taking_turns(model: torch.nn.Module, dataset, attacks, **options) -> dict:
    """`evaluate(model, dataset, attacks, **options)`, passing the lane's turn before each forward pass of
    `model`; outside lanes, `evaluate` itself."""
    with lanes.passing_turns(model):
        return evaluate(model, dataset, attacks, **options)


def evaluate_side_by_side(
    jobs: list[tuple[torch.nn.Module, object, list, dict]], device: str | torch.device, width: int | None = None
) -> list[lanes.Outcome]:
    """Each job (model, dataset, attacks, evaluate's other options) evaluated `width` at a time (default: all
    at once) side by side on `device`; each one's outcome, in order: its results record or the error it raised."""
    calls = [
        partial(evaluate_taking_turns, model, data, attacks, **{**options, "device": device})
        for model, data, attacks, options in jobs
    ]
    return lanes.run(calls, width or len(calls), device)
