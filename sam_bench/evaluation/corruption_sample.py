"""A spot check's sample of a corruptions entry measured again (the attack table's rule for corruptions,
evaluation/attack_table.py), and the corruption set an entry was measured on. Reaches no table: the attack table
names it.
"""

from __future__ import annotations

import numpy as np
import torch

from sam_bench.attacks.autoattack import predict
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import CorruptionSet, load_corruption_set
from sam_bench.data import to_float
from sam_bench.errors import BadInput
from sam_bench.evaluation import outcomes
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place

CPU_BATCH = 250  # the batch of an entry that records none (evaluation.batching's on a CPU)


def remeasured_sample(evaluation, net, data, device, rng, every_image: bool, sample, data_dir=None) -> tuple:
    """A spot check's sample of a corruptions entry measured again (the attack table's rule for corruptions): the
    entry's 75 outcome vectors as one, set after set in the catalogue's order, its images recorded right and
    recorded wrong sampled by the spot check's `sample` (stratified, from `rng`), each sampled image made again from
    the clean test images (`data`) or read from the official files (under `data_dir`) and classified. The pass is
    deterministic, so a faithful file agrees on every sampled image. Returns (recorded, now, strata) over the one
    index."""
    corruption_set = measured_set(evaluation, data, data_dir)
    found = evaluation.corruption_outcomes
    sets = [(c, s) for c in catalogue.CORRUPTIONS for s in catalogue.SEVERITIES]
    recorded = np.concatenate([outcomes.decode(found[c][str(s)]) for c, s in sets])
    n = len(recorded) // len(sets)
    parts = sample(recorded, np.ones(len(recorded), bool), len(recorded), rng, every_image)
    union = np.sort(np.concatenate(parts))
    batch_size = (evaluation.chunks or {}).get("batch_size") or CPU_BATCH
    model = place(net, torch.device(device), EVALUATION).eval()
    now = np.zeros(len(union), bool)
    truth = torch.from_numpy(corruption_set.labels)
    for index in np.unique(union // n):
        corruption, severity = sets[index]
        at = np.flatnonzero(union // n == index)
        images = np.concatenate([corruption_set.images(corruption, severity, i, i + 1) for i in union[at] % n])
        with torch.no_grad(), math_mode.ieee_fp32():
            predicted = predict(model, to_float(images).to(device), batch_size).cpu()
        now[at] = (predicted == truth[union[at] % n]).numpy()
    return recorded, now, parts


def measured_set(evaluation, data, data_dir=None) -> CorruptionSet:
    """The set a corruptions entry was measured on, from the clean test set it names (`data`, already checked
    against the results' fingerprint) or, for the official set, the files under `data_dir`; refused in one line
    where its clean images are not the ones recorded."""
    described = evaluation.corruption_set
    if described["name"] == catalogue.OFFICIAL:
        corruption_set = load_corruption_set(catalogue.OFFICIAL, data_dir, data_dir)
    else:
        labels = np.asarray(data.y_test, np.int64)
        corruption_set = CorruptionSet(
            described["name"], labels, data.x_test, data.fingerprint(), seed=described.get("seed", 0)
        )
    if corruption_set.describe()["clean_sha256"] != described["clean_sha256"]:
        raise BadInput(f"{described['name']}: the clean test images here are not those the results were measured on")
    return corruption_set
