"""PGD's random starts replayed as a recorded evaluation drew them, chunk by chunk, for a spot check (spot_check.py).

A PGD evaluation recorded before per-image draws (attacks/draws.py) drew its starts from the global generator of
its device: each chunk's generator seeded as `evaluate` seeds it (`chunk_seed`), each batch drawing for its
clean-correct images (those the runner attacks), restart by restart. Rebuilt here for a sample of images (a GPU's
draws as cuda_draws.py computes them, for the GPUs it knows), the re-run starts each from the start it had, so a
faithful file agrees on every image where the arithmetic is the recorded one. On a GPU the runner chose the images
to attack in its search math (TF32): an image whose clean prediction differed there from the recorded one moves
the draws of the images after it in its batch; the measured rate of a GPU's file replayed here counts it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from sam_bench.attacks.draws import chunk_seed
from sam_bench.attacks.pgd import in_l2_ball, pgd, random_perturbation
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.cuda_draws import CudaGenerator


def replayed_attack(evaluation, clean: np.ndarray, wanted: np.ndarray, shape, gpu: str | None = None):
    """PGD of the images `wanted` from the starts the recorded run drew for them (`replayed_starts`), as an attack:
    (model, x, y, spec) -> the adversarial images."""
    return partial(pgd_from, starts=replayed_starts(evaluation, clean, wanted, shape, gpu))


def replayed_starts(evaluation, clean: np.ndarray, wanted: np.ndarray, shape, gpu: str | None = None) -> list:
    """The random starts the recorded PGD run drew for the images `wanted`, one tensor per restart: each chunk's
    generator seeded as `evaluate` seeds it (torch's CPU generator, or that of the GPU `gpu` the file was recorded
    on), each batch drawing for its clean-correct images (those the runner attacks) as the runner and `pgd` draw, in
    order; only chunks that hold a wanted image are replayed."""
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
    norm = str(evaluation.norm)
    for first in range(0, n, chunk):
        last = min(first + chunk, n)
        inside = wanted[(wanted >= first) & (wanted < last)]
        if not len(inside):
            continue
        seed = chunk_seed(s.seed, first)
        generator = CudaGenerator(seed, gpu) if gpu else torch.Generator().manual_seed(seed)
        for b in range(first, int(inside.max()) + 1, batch):
            attacked = b + np.flatnonzero(clean[b : min(b + batch, last)])
            if not len(attacked):
                continue
            rows = [row for row, image in enumerate(attacked) if int(image) in position]
            for r in range(restarts):
                noise = _drawn(generator, len(attacked), rows, eps, norm, shape)
                for row, drawn in zip(rows, noise):
                    starts[r, position[int(attacked[row])]] = drawn
    return list(starts)


def _drawn(generator, count: int, rows: list[int], eps: float, norm: str, shape) -> torch.Tensor:
    """`random_perturbation` of a batch of `count` images as the generator draws it, for the images at `rows`."""
    if isinstance(generator, torch.Generator):
        return random_perturbation(torch.empty(count, *shape), eps, norm, generator)[rows]
    size = int(np.prod(shape))
    elements = (np.asarray(rows, np.int64)[:, None] * size + np.arange(size)).ravel()
    if norm == "Linf":
        flat = generator.uniform(count * size, -eps, eps, elements)
        return torch.from_numpy(flat).view(len(rows), *shape)
    direction = torch.from_numpy(generator.normal(count * size, elements)).view(len(rows), *shape)
    radius = torch.from_numpy(generator.uniform(count, 0.0, 1.0, np.asarray(rows, np.int64)))
    return in_l2_ball(direction, radius.view(-1, *([1] * len(shape))), eps)


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
