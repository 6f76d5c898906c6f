"""How a run takes its steps (`--step-mode`, a recipe's `step_mode`; docs/training.md, "Step modes"): eager
(training.methods.train_step), static (training/static_step.py), graph (training/cuda_graph.py) or grouped
(training/grouped_step.py, trained by grouped_runs.py). Every mode but eager is part of a run's settings key.
"""

from __future__ import annotations

from functools import partial

import torch

from sam_bench.errors import BadInput
from sam_bench.training.cuda_graph import GraphedStep
from sam_bench.training.grouped_step import groupable
from sam_bench.training.static_step import StaticStep, capturable, step_generator


def generator_for(mode: str, seed: int, device: torch.device) -> torch.Generator | None:
    """The run's own generator (checkpointed with the run), or None for the eager step."""
    return None if mode == "eager" else step_generator(seed, device)


def check(mode: str, method: str, device: torch.device, distributed: bool) -> None:
    """One line for a step mode that cannot run here, before any data is loaded."""
    if mode == "eager":
        return
    if mode == "graph" and device.type != "cuda":
        raise BadInput(f"--step-mode graph captures CUDA graphs: it needs a CUDA device, not {device}")
    if distributed:
        raise BadInput(f"--step-mode {mode} trains in one process; under torchrun use --step-mode eager")
    if mode == "grouped":
        if not groupable(method):
            raise BadInput(f"{method} has a step of its own; it cannot train grouped: use --step-mode eager or static")
    elif not capturable(method):
        raise BadInput(f"{method} has a step of its own and no capturable one; train it with --step-mode eager")


def make_step(mode: str, method: str, model, optimizer, attack, autocast, generator):
    """The run's step(x, y, lr) -> (loss, logits), or None for the eager step (the epoch calls it itself) and
    for a grouped run (its group's step takes it: training/grouped_runs.py)."""
    if mode in ("eager", "grouped"):
        return None
    assert generator is not None, "generator_for() gives a non-eager run its generator"
    if mode == "graph" and isinstance(autocast, partial):
        # autocast's cache of cast weights would be filled during capture and never refreshed on replay
        autocast = partial(autocast, cache_enabled=False)
    static = StaticStep(method, model, optimizer, attack, generator, autocast)
    return static if mode == "static" else GraphedStep(static)
