"""A corruption evaluation's figures, derived from its per-image outcomes and checked against them.

A corruptions entry keeps one per-image outcomes record per corruption and severity (`corruption_outcomes[c][s]`,
each over the same first N test images: evaluation/outcomes.py); every figure of the entry is derived from them. A
spot check's sample of an entry is measured again here too (`remeasured_sample`), named by the attack table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from sam_bench.attacks.autoattack import predict
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import CorruptionSet, load_corruption_set
from sam_bench.data import to_float
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import outcomes
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place


def summary(found: Mapping) -> dict:
    """Every figure of {corruption: {severity: outcomes}}: accuracy per corruption and severity, per corruption,
    per severity and per family (over those measured) and the mean over the 75 (None unless all were measured)."""
    accuracy = {
        c: {s: float(outcomes.decode(record).mean()) for s, record in by_severity.items()}
        for c, by_severity in found.items()
    }
    per_corruption = {c: float(np.mean(list(a.values()))) for c, a in accuracy.items()}
    levels = sorted({s for a in accuracy.values() for s in a}, key=int)
    per_severity = {s: float(np.mean([a[s] for a in accuracy.values() if s in a])) for s in levels}
    families = {
        family: float(np.mean([per_corruption[c] for c in members if c in per_corruption]))
        for family, members in catalogue.FAMILIES.items()
        if any(c in per_corruption for c in members)
    }
    mean = float(np.mean([a for by in accuracy.values() for a in by.values()])) if complete(found) else None
    return {
        "accuracy": accuracy,
        "per_corruption": per_corruption,
        "per_severity": per_severity,
        "families": families,
        "mean_accuracy": mean,
    }


def figures(evaluation) -> dict | None:
    """A results file's corruptions entry's figures (a results_record.Evaluation), derived from its per-image
    outcomes (`summary`): `accuracy[corruption][severity]`, `per_corruption`, `per_severity`, `families`,
    `mean_accuracy`; None for an entry without them (another attack's)."""
    return summary(evaluation.corruption_outcomes) if evaluation.corruption_outcomes else None


def complete(found: Mapping) -> bool:
    """Whether all 15 corruptions were measured at all 5 severities."""
    return set(found) == set(catalogue.CORRUPTIONS) and all(
        set(by_severity) == {str(s) for s in catalogue.SEVERITIES} for by_severity in found.values()
    )


def per_class(found: Mapping, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """The accuracy on each class's images, over every corruption and severity measured."""
    right = np.zeros(num_classes)
    sets = 0
    for by_severity in found.values():
        for record in by_severity.values():
            right += np.bincount(labels[outcomes.decode(record)], minlength=num_classes)
            sets += 1
    shown = np.bincount(labels, minlength=num_classes) * sets
    return [None if k == 0 else float(r) / k for r, k in zip(right, shown)]


def derived(entry: Mapping) -> dict:
    """A corruptions entry with its headline (`robust_acc`, the mean over the 75), its per-family `breakdown` and
    `n_examples` taken from its per-image outcomes."""
    entry = dict(entry)
    found = entry.get("corruption_outcomes")
    if found and complete(found):
        figures = summary(found)
        entry["robust_acc"], entry["breakdown"] = figures["mean_accuracy"], figures["families"]
        entry["n_examples"] = next(iter(next(iter(found.values())).values()))["n"]
    return entry


def check(entry: Mapping, where: str, fix: str) -> None:
    """A corruptions entry against its own evidence, one line where not: outcomes for all 75 corruptions and
    severities, each of exactly the entry's images from the first, and a headline and breakdown that they give."""
    found = entry.get("corruption_outcomes")
    if not isinstance(found, Mapping) or not complete(found):
        raise SamBenchError(f"{where}: holds no per-image outcomes for all 15 corruptions at all 5 severities; {fix}")
    n = entry["n_examples"]
    for corruption, by_severity in found.items():
        for severity, record in by_severity.items():
            try:
                flags = outcomes.decode(record)
            except (ValueError, SamBenchError) as err:
                raise SamBenchError(
                    f"{where}: {corruption} {severity}: per-image outcomes unreadable ({err}); {fix}"
                ) from None
            if record["start"] != 0 or flags.size != n:
                raise SamBenchError(
                    f"{where}: {corruption} {severity}: outcomes cover images {record['start']}.."
                    f"{record['start'] + flags.size - 1}, not the {n} evaluated; {fix}"
                )
    figures = summary(found)
    if abs(figures["mean_accuracy"] - entry["robust_acc"]) > 0.5 / (75 * n):
        raise SamBenchError(
            f"{where}: robust_acc is {entry['robust_acc']:g}, the mean its per-image outcomes give over the 75 is "
            f"{figures['mean_accuracy']:g}; {fix}"
        )
    breakdown = entry.get("breakdown") or {}
    for family, value in figures["families"].items():
        if abs(float(breakdown.get(family, -1.0)) - value) > 0.5 / (15 * n):
            raise SamBenchError(
                f"{where}: the {family} family's accuracy is {breakdown.get(family)}, its per-image outcomes give "
                f"{value:g}; {fix}"
            )


CPU_BATCH = 250  # the batch of an entry that records none (evaluation.batching's on a CPU)


def remeasured_sample(evaluation, net, data, device, rng, every_image: bool, sample, data_dir=None) -> tuple:
    """A spot check's sample of a corruptions entry measured again: the 75 outcome vectors as one (set after set in
    the catalogue's order), sampled by the spot check's `sample` from `rng`, each sampled image made again (or read
    from the official files under `data_dir`) and classified; deterministic, so a faithful file agrees on every
    sampled image. (recorded, now, strata) over the one index."""
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
