"""Where the full scale stands, for ops/remote-gpu/gpu_plan.py: its runs as a reproduction folder left them, at
the minutes its runs took on the GPU (sam_bench/report/gpu_minutes.py: training's and evaluation's wall time),
with what is not yet measured estimated (gpu_costs.py, gpu_attack_minutes.py) and said to be.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter
from pathlib import Path

from gpu_attack_minutes import EVAL_IMAGES, attack_kind, pgd_accuracies, spec_minutes
from gpu_costs import Model, full_scale, runs_of


def signature_of_spec(spec, images: int | None = None) -> tuple:
    """An attack spec's signature (sam_bench.report.grid_minutes: what makes two evaluations the same work);
    `images`: its evaluation block's `n_examples`, for a spec without its own (the full scale's: all 10,000 when
    None)."""
    from sam_bench.report import grid_minutes

    return grid_minutes.signature_of_spec(spec, images or EVAL_IMAGES)


def signature_of_result(evaluation: dict) -> tuple:
    """A results file's evaluation's signature (sam_bench.report.grid_minutes)."""
    from sam_bench.report import grid_minutes

    return grid_minutes.signature_of_result(evaluation)


def with_state(models: list[Model], folder: str | Path, rates: dict[str, float] | None = None) -> list[Model]:
    """The runs as a full-scale reproduction `folder` left them, at the minutes they took on the GPU:

    - a run whose results file has every evaluation its own block asks (`evaluation_for`) is done;
    - one whose results lack some (the recipe gained attacks since) is trained and is evaluated again, for those
      alone (the others are carried over, sam_bench.evaluation.carry_over): what it had at its measured minutes,
      what it lacks as estimated, less what the chunks of its evaluation state (a stint stopped it) took;
    - a run stopped mid-way is trained as far as its log's epochs, its training counted at its own median epoch;
    - a run not yet trained trains in its model's first seed's minutes where that one ran (a later seed trains
      the same steps), else in a finished run's where it shares that run's step (the same method and attack
      steps: SAM-0.2's is SAM-0.1's);
    - an attack a run has not made, if the run is not robust, takes the mean minutes the not-robust runs took for
      it; the rest as estimated (gpu_attack_minutes.spec_minutes), a custom AutoAttack's later attacks on the
      images bounded by the run's PGD-10 accuracy at its budget: its own where its results have it, else its
      model's first seed's, else (a model that is not robust) the reference standard model's (ST's), else
      gpu_attack_minutes.LEFT_ESTIMATE.

    A run's evaluation is marked measured (`ran` has "evaluate") where every attack's minutes are runs' own, in
    part (`evaluation_in_part`) where only some are."""
    from sam_bench.experiments.reproduction import evaluation_state_path
    from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs
    from sam_bench.report import gpu_minutes
    from sam_bench.report.folder import Folder
    from sam_bench.training import method_table as table

    folder = Path(folder)
    recipe = full_scale()
    runs = runs_of(recipe)
    labels = {(p.name, p.key): label for label, p in runs.items()}
    records = {labels[(r.name, r.key)]: r for r in Folder.load(folder).records if (r.name, r.key) in labels}
    ran = {label: row for label, record in records.items() for row in gpu_minutes.rows([record])}

    def robust(label: str) -> bool:
        return table.uses_attack(runs[label].config.method)

    def evaluations(record) -> dict[tuple, float]:  # signature -> minutes the record's evaluation took
        return {signature_of_result(e): float(e.seconds or 0.0) / 60 for e in record.results.evaluations}

    took = {label: evaluations(r) for label, r in records.items() if label in ran and ran[label]["evaluation_min"]}
    not_robust: dict[tuple, list[float]] = {}
    for label, minutes in took.items():
        if not robust(label):
            for signature, m in minutes.items():
                not_robust.setdefault(signature, []).append(m)
    reference = next((label for label, p in runs.items() if p.primary and p.config.method == "standard"), None)

    def accuracies(label: str) -> dict:  # PGD-10 accuracies by budget: its own, its first seed's, ST's
        sources = [label, runs[label].name] + ([] if robust(label) else [reference])
        found: dict = {}
        for source in reversed(sources):
            found.update(pgd_accuracies(records[source].results if source in records else None))
        return found

    def evaluation(label: str) -> tuple[dict[str, float], int, int, list[tuple], float]:
        """({attack kind: minutes}, how many of its attacks were measured by runs, of how many, the attacks of its
        block its results lack, the minutes of those they have: a new evaluation carries them over)."""
        parts: dict[str, float] = {}
        measured, missing, kept = 0, [], 0.0
        own = took.get(label, {})
        specs = evaluation_specs(evaluation_for(runs[label], recipe.evaluation))
        for spec in specs:
            signature = signature_of_spec(spec)
            if signature in own:
                minutes, measured, kept = own[signature], measured + 1, kept + own[signature]
            elif signature in not_robust and not robust(label):
                minutes, measured = statistics.mean(not_robust[signature]), measured + 1
            else:
                minutes = spec_minutes(spec, robust(label), rates, accuracies(label))
            if label in took and signature not in own:
                missing.append(signature)
            parts[attack_kind(spec)] = parts.get(attack_kind(spec), 0.0) + minutes
        return parts, measured, len(specs), missing, kept

    def resumed(m: Model) -> str:  # what the run's evaluation state (a stint stopped it) holds, counted in m
        plan = runs[m.label]
        block = evaluation_for(plan, recipe.evaluation)
        wanted = chunks_wanted(evaluation_specs(block), block.get("n_examples") or EVAL_IMAGES)
        return resume_evaluation(m, evaluation_state_path(folder, plan), wanted)

    def step_of(label: str) -> tuple[str, int | None]:  # what a training step costs depends on this alone
        config = runs[label].config
        return config.method, config.attack_steps if table.uses_attack(config.method) else None

    def epochs_of(label: str) -> list[dict]:  # the epochs its log holds
        log = folder / "runs" / runs[label].run_name / "log.jsonl"
        lines = log.read_text().splitlines() if log.is_file() else []
        return [e for e in (json.loads(line) for line in lines if line.strip()) if "epoch" in e and "seconds" in e]

    def trained_minutes(label: str) -> float | None:  # its whole training, as its run measured it
        row = ran.get(label)
        if row is not None and row["training_min"] is not None:
            return row["training_min"]
        epochs = epochs_of(label)
        if not epochs:
            return None
        return statistics.median(e["seconds"] for e in epochs) * runs[label].config.epochs / 60

    same_step = {step_of(n): row["training_min"] for n, row in ran.items() if row["training_min"] is not None}
    out = [dataclasses.replace(m) for m in models]
    for m in out:
        row, plan = ran.get(m.label), runs[m.label]
        m.parts, measured, attacks, missing, kept = evaluation(m.label)
        m.evaluate = sum(m.parts.values())
        evaluation_ran = measured == attacks
        m.evaluation_in_part = 0 < measured < attacks
        if measured:  # not counted from the probe's rates alone
            m.evaluation_measured = False
            m.ran = "evaluate" if evaluation_ran else ""
        if row is not None:
            m.train = row["training_min"] if row["training_min"] is not None else m.train
            m.done_train, m.measured = m.train, False
            m.ran = "train, evaluate" if evaluation_ran else "train"
            if missing:
                m.done_evaluate = kept  # carried over; an evaluation state, where a stint left one, counts instead
                m.stands = f"trained; to evaluate again, with {len(missing)} attacks it lacks"
                m.stands += resumed(m)
            else:
                m.done_evaluate, m.stands = m.evaluate, "done"
            continue
        first = trained_minutes(plan.name) if not plan.primary else None
        if first is not None:  # a later seed at its first seed's minutes: the same steps
            m.train, m.measured = first, False
            m.ran = "train" + (", evaluate" if evaluation_ran else "")
        elif step_of(m.label) in same_step:  # e.g. SAM-0.2 at SAM-0.1's minutes: the same step
            m.train, m.measured = same_step[step_of(m.label)], False
            m.ran = "train" + (", evaluate" if evaluation_ran else "")
        epochs = epochs_of(m.label)
        if epochs:
            m.train = trained_minutes(m.label) or m.train
            m.done_train = m.train * len(epochs) / plan.config.epochs
            m.measured, m.ran = False, "train" + (", evaluate" if evaluation_ran else "")
            m.stands = f"{len(epochs)} of {plan.config.epochs} epochs"
            if len(epochs) >= plan.config.epochs:  # trained: a stint may have stopped its evaluation mid-way
                m.stands += resumed(m)
    return out


def chunks_wanted(specs: list, n_examples: int) -> Counter:
    """How many chunks of each image count an evaluation of `specs` cuts on one GPU process (`--chunk-size auto`,
    sam_bench.evaluation.batching): AutoAttack's chunks are smaller than the other attacks'."""
    import torch

    from sam_bench.evaluation.batching import chunk_size_for

    wanted: Counter = Counter()
    for spec in specs:
        n = spec.n_examples or n_examples
        size = chunk_size_for(torch.device("cuda"), n, 1, spec.attack)
        wanted.update([size] * (n // size) + ([n % size] if n % size else []))
    return wanted


def resume_evaluation(m: Model, path: Path, wanted: Counter) -> str:
    """Count what an evaluation state (a stint stopped the evaluation) holds as done, and what it lacks as left:
    its chunks of each image count against the ones the evaluation cuts (`wanted`); each chunk it lacks at the
    minutes its slowest own chunk of that image count took (of all its chunks where it has none of that count:
    an AutoAttack chunk at a small budget, where most images survive APGD-CE, takes minutes where one at a large
    budget takes seconds), and never less than the estimate less what is done. Minutes alone cannot tell: an
    estimate below what the chunks took would call an evaluation done that still lacks chunks. Returns the
    phrase for `stands`."""
    from sam_bench.evaluation.chunk_state import ChunkState

    chunks = list(ChunkState(path).chunks.values())  # none where there is no state (or a damaged one)
    if not chunks:
        return ""
    minutes = sum(float(c.get("seconds") or 0.0) for c in chunks) / 60
    have = Counter(int(c["n"]) for c in chunks)
    slowest = {n: max(float(c.get("seconds") or 0.0) for c in chunks if c["n"] == n) / 60 for n in have}
    lacking = {n: count - have[n] for n, count in wanted.items() if count > have[n]}
    left = sum(count * slowest.get(n, max(slowest.values())) for n, count in lacking.items())
    if lacking:
        left = max(left, m.evaluate - minutes)
    m.evaluate, m.done_evaluate = minutes + left, minutes
    of = sum(wanted.values())
    return f" ({min(len(chunks), of)} of {of} chunks of its evaluation done: {minutes:.1f} minutes)"
