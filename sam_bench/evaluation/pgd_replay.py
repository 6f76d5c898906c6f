"""PGD's random starts replayed as a recorded evaluation drew them, chunk by chunk, for a spot check (spot_check.py).

A PGD evaluation recorded before per-image draws (attacks/draws.py) drew its starts from the global generator:
each chunk's generator seeded as `evaluate` seeds it (`chunk_seed`), each batch drawing for its clean-correct
images (those the runner attacks), restart by restart. Rebuilt here for a sample of images, the re-run starts each
from the start it had, so a faithful file agrees on every image where the arithmetic is the recorded one.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from sam_bench.attacks.draws import chunk_seed
from sam_bench.attacks.pgd import pgd, random_perturbation
from sam_bench.evaluation.attack_spec import AttackSpec


def replayed_attack(evaluation, clean: np.ndarray, wanted: np.ndarray, shape):
    """PGD of the images `wanted` from the starts the recorded run drew for them (`replayed_starts`), as an attack:
    (model, x, y, spec) -> the adversarial images."""
    return partial(pgd_from, starts=replayed_starts(evaluation, clean, wanted, shape))


def replayed_starts(evaluation, clean: np.ndarray, wanted: np.ndarray, shape) -> list[torch.Tensor]:
    """The random starts the recorded PGD run drew for the images `wanted`, one tensor per restart: each chunk's
    generator seeded as `evaluate` seeds it, each batch drawing for its clean-correct images (those the runner
    attacks) as the runner and `pgd` draw, in order; only chunks that hold a wanted image are replayed."""
    s = evaluation.params
    restarts = max(1, int(s.restarts))
    starts = torch.zeros(restarts, len(wanted), *shape)
    eps = float(evaluation.eps_value or 0.0)
    if not s.random_start or eps == 0 or s.steps == 0 or not len(wanted):
        return list(starts)  # pgd draws nothing: no start to replay
    chunks = evaluation.chunks or {}
    chunk, n = chunks["size"], evaluation.n_examples or len(clean)
    batch = min(chunks["batch_size"], chunk)
    position = {int(i): j for j, i in enumerate(wanted)}
    generator = torch.Generator()
    for first in range(0, n, chunk):
        last = min(first + chunk, n)
        inside = wanted[(wanted >= first) & (wanted < last)]
        if not len(inside):
            continue
        generator.manual_seed(chunk_seed(s.seed, first))
        for b in range(first, int(inside.max()) + 1, batch):
            attacked = b + np.flatnonzero(clean[b : min(b + batch, last)])
            if not len(attacked):
                continue
            for r in range(restarts):
                noise = random_perturbation(torch.empty(len(attacked), *shape), eps, str(evaluation.norm), generator)
                for row, image in enumerate(attacked):
                    j = position.get(int(image))
                    if j is not None:
                        starts[r, j] = noise[row]
    return list(starts)


def pgd_from(model, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, starts: list[torch.Tensor]) -> torch.Tensor:
    """PGD as `pgd` runs it with restarts (per image the first restart that fools the model wins, else the last),
    each restart from its given random start."""
    s = spec.params
    return pgd(
        model,
        x,
        y,
        spec.eps,
        str(spec.norm),
        steps=s.steps,
        step_size=s.step_size,
        restarts=len(starts),
        random_start=s.random_start,
        starts=lambda restart: starts[restart].to(x.device),
    )
