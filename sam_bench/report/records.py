"""A reproduction's run records (`report.run_record`) asked for what the claims, the report and its sections compare."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from sam_bench.eps import parse_eps
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference, mixed_model
from sam_bench.threat_models import order
from sam_bench.training.config import TrainConfig
from sam_bench.zoo.store import architecture_name


def accuracy(record: RunRecord, attack: str, norm: str | None = None, eps: str | None = None, **select) -> float | None:
    """A fraction from the record's results; None when that evaluation was not run."""
    ev = record.evaluation(attack, norm, eps, **select)
    return None if ev is None else ev.robust_acc


def seconds_per_epoch(record: RunRecord) -> float | None:
    """The median epoch after the first (which carries start-up: imports, allocation, compilation);
    without the run's log, wall time / epochs."""
    epochs = record.training.epoch_seconds
    if epochs:
        return statistics.median(epochs[1:] or epochs)
    wall, n = record.training.wall_time_s, record.config.epochs
    return wall / n if wall and n else None


def models(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """The records grouped by model name (each group: one record per training seed), in order."""
    return _grouped(records, lambda r: r.name)


def _grouped(records: list[RunRecord], key: Callable[[RunRecord], str]) -> dict[str, list[RunRecord]]:
    grouped: dict[str, list[RunRecord]] = {}
    for r in records:
        grouped.setdefault(key(r), []).append(r)
    return grouped


def by_method(grouped: dict[str, list[RunRecord]], *methods) -> list[list[RunRecord]]:
    """The models trained by these methods (method_table's names), each a list over its seeds."""
    return [g for g in grouped.values() if g[0].method in methods]


def accuracy_over_seeds(group: list[RunRecord], *measure, **select) -> mixed_model.SeedsAndImages | None:
    """A model's accuracy over its training seeds and the test images (two seeds or more), or None."""
    found = [r.evaluation(*measure, **select) for r in group]
    evs = [ev for ev in found if ev is not None]
    if len(evs) < 2 or len(evs) < len(found):  # fewer than two seeds, or one lacks the measure
        return None
    if (flags := outcome_flags(group, *measure, **select)) is not None:
        return mixed_model.seeds_and_images(flags)
    mean = statistics.fmean(ev.robust_acc for ev in evs)
    return mixed_model.seeds_and_images_from_means(
        [ev.robust_acc for ev in evs], mean * (1 - mean), min(images(ev) for ev in evs)
    )


def outcome_flags(group: list[RunRecord], *measure, **select) -> np.ndarray | None:
    """The runs' correct-flags on a measure as a seeds x images array, or None unless every run has them alike."""
    found = [ev for ev in (r.evaluation(*measure, **select) for r in group) if ev is not None and ev.outcomes]
    flags = [outcomes.decode(ev.outcomes).astype(float) for ev in found if ev.outcomes]
    return np.array(flags) if len(flags) == len(group) and len({len(f) for f in flags}) == 1 else None


def images(ev: Evaluation) -> int:
    """The test images an evaluation covers (every entry of a results file names them)."""
    assert ev.n_examples is not None, "a results file's evaluation names its images"
    return ev.n_examples


def accuracy_with_interval(group: list[RunRecord], *measure, **select) -> tuple[float, float, float] | None:
    """A model's accuracy and its 95% interval (fractions): over its seeds and the test images with two seeds or
    more, Wilson's over the images with one; None when it lacks the measure. What every plot draws."""
    if len(group) > 1 and (found := accuracy_over_seeds(group, *measure, **select)) is not None:
        low, high = mixed_model.accuracy_interval(found)
        return found.estimate, low, high
    ev = group[0].evaluation(*measure, **select)
    if ev is None:
        return None
    n = int(ev.n_examples or 0)
    if not n:
        return ev.robust_acc, ev.robust_acc, ev.robust_acc
    low, high = inference.wilson(round(ev.robust_acc * n), n)
    return ev.robust_acc, low, high


def architecture(record: RunRecord) -> str:
    """The record's architecture as the zoo names it, e.g. 'PreActResNet-18 (width x0.125)'."""
    return architecture_of(record.config)


def architecture_of(config: TrainConfig) -> str:
    """The architecture these training settings build, as the zoo names it."""
    return architecture_name({"arch": config.arch, "width": config.width, "kwargs": config.arch_kwargs})


def by_architecture(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """The records split by architecture, in order: a grid over architectures is judged within each."""
    return _grouped(records, architecture)


def cost_against_st(records: list[RunRecord]) -> list[float | None]:
    """Each record's seconds per epoch over its own architecture's ST (its first seed, as C4): a ViT's SAM
    against a ViT's ST, not against another architecture's. The first seed: a grid's first seeds are trained in
    one go, under one load, while later seeds may be added later, elsewhere, or several at a time."""
    base = {
        arch: next((seconds_per_epoch(first_seed(g)) for g in by_method(models(subset), "standard")), None)
        for arch, subset in by_architecture(records).items()
    }
    ratios = []
    for r in records:
        t, st = seconds_per_epoch(r), base[architecture(r)]
        ratios.append(t / st if t and st else None)
    return ratios


def first_seed(group: list[RunRecord]) -> RunRecord:
    """A model's first seed, trained with the grid (its settings are the model's run key)."""
    return next((r for r in group if r.primary), group[0])


def pgd_budgets(records: list[RunRecord]) -> list[tuple[str, str]]:
    seen = {(norm, eps) for r in records for norm, eps, _ in r.results.budgets("pgd")}
    return sorted(seen, key=lambda k: (order(k[0]), parse_eps(k[1])))


def aa_budgets(records: list[RunRecord]) -> list[tuple[str, str, dict]]:
    """AutoAttack's budgets in the records, in order, each with what picks it (`RunRecord.evaluation`'s
    version and attacks) where one budget was attacked with several versions, else {}."""
    seen: list[tuple[str, str, dict]] = []
    for r in records:
        seen += [b for b in r.results.budgets("autoattack") if b not in seen]
    versions = [(n, e) for n, e, _ in seen]
    return [(n, e, s if versions.count((n, e)) > 1 else {}) for n, e, s in seen]


def aa_label(norm: str, eps: str, select: dict) -> str:
    """A column's name: 'AA Linf 2/255', with the version where a budget has several."""
    if not select:
        return f"AA {norm} {eps}"
    kind = "standard" if select["version"] == "standard" else " + ".join(a.upper() for a in select["attacks"])
    return f"AA {norm} {eps} ({kind})"
