"""The probe's parts for how models share one device (docs/benchmarks.md has the table): K models training at once,
each in a process of its own as `reproduce --parallel K` runs them (concurrent/<method>/<mode>/K<k>), and an
evaluation alone and beside them (evaluation/alone, beside/<method>/<mode>/K<k>), as a cell's evaluation runs
beside the other cells' training. Their ratios (the names below) are what probe_choice.py reads. The k-th training
process is worker `train-<k-1>` of one crew (probe_concurrent.py) whatever the method and mode.
"""

from __future__ import annotations

import statistics
from functools import partial

import torch

from sam_bench.bench import probe_lanes
from sam_bench.bench.measurement import ATTACK, attack_steps
from sam_bench.bench.probe import Part, Ratio
from sam_bench.bench.probe_concurrent import Crew
from sam_bench.bench.probe_steps import attack_step, train_step
from sam_bench.errors import BadInput
from sam_bench.training.static_step import capturable

RUN_MODES = ("eager", "static", "graph")  # the step modes a run trains in (`--step-mode`)
DEFAULT_MODES = ("eager",)
DEFAULT_SECONDS = 1.0
EVALUATION = "evaluation"  # the evaluation's worker
SEARCH = "tf32"  # an evaluation's search math by default (runtime/math_mode.py)
AGGREGATE = "images_per_s_aggregate"  # K trainings' images/s, summed


def not_runnable(method: str, mode: str, device: torch.device) -> str | None:
    """Why `method`'s training step cannot be timed in step mode `mode` on `device`; None where it can."""
    if mode in ("static", "graph") and not capturable(method):
        return f"{method} has a step of its own and no capturable one"
    return "a CUDA graph needs a CUDA device" if mode == "graph" and device.type != "cuda" else None


def aggregate_ratio(method: str, mode: str, k: int, first: int) -> str:
    return f"{method}: aggregate images/s in {mode} steps, K={k} / K={first}"


def training_beside_ratio(method: str, mode: str, k: int) -> str:
    return f"{method}: training images/s in {mode} steps beside an evaluation, K={k} (beside / alone)"


def evaluation_beside_ratio(method: str, mode: str, k: int) -> str:
    return f"{method}: evaluation images/s beside K={k} {mode} training processes (beside / alone)"


def beside_counts(s: dict) -> list[int]:
    """The K values at which an evaluation runs beside K trainings: `beside`, or every K of `concurrency`."""
    beside = s.get("beside")
    return list(s["concurrency"]) if beside is None else list(beside)


def check(s: dict) -> None:
    """One line for arrangement settings the probe cannot run, before anything is built."""
    bad = [m for m in s.get("concurrent_modes", DEFAULT_MODES) if m not in RUN_MODES]
    if bad:
        raise BadInput(
            f"--concurrent-modes: {bad[0]!r} is no step mode a run trains in; choose from {', '.join(RUN_MODES)}"
        )
    outside = [k for k in beside_counts(s) if k not in s["concurrency"]]
    if outside:
        raise BadInput(
            f"--beside {outside[0]}: the evaluation's cost to K trainings is read against K alone, so K must be "
            f"one of --concurrency ({', '.join(map(str, s['concurrency']))})"
        )
    if not s.get("concurrent_s", DEFAULT_SECONDS) > 0:
        raise BadInput(f"--concurrent-s must be more than 0 seconds, got {s['concurrent_s']}")


def parts(s: dict, device: torch.device) -> tuple[list[Part], list[Ratio], dict[str, str]]:
    """The arrangement's parts in the order they are set up (every mode's K values, then the evaluation beside
    them), their ratios, and what does not apply on this device, with why."""
    crew = Crew()
    seconds = s.get("concurrent_s", DEFAULT_SECONDS)
    images = s["batch_size"] * s["steps"]  # a training unit: `steps` steps of a batch
    out_parts: list[Part] = []
    ratios: list[Ratio] = []
    skipped: dict[str, str] = {}
    first = s["concurrency"][0]
    beside = beside_counts(s)
    runnable: list[tuple[str, str]] = []
    for mode in [m for m in RUN_MODES if m in s.get("concurrent_modes", DEFAULT_MODES)]:
        for method in s["concurrent_methods"]:
            if why := not_runnable(method, mode, device):
                skipped[f"concurrent/{method}/{mode}"] = why
                continue
            runnable.append((method, mode))
            for k in s["concurrency"]:
                name = f"concurrent/{method}/{mode}/K{k}"
                setup = partial(_training, crew, method, mode, k, False, s, device, seconds, images)
                out_parts.append(Part(name, setup, _info("concurrent", method, mode, k), close=crew.close))
                if k != first:
                    first_part = f"concurrent/{method}/{mode}/K{first}"
                    ratios.append(Ratio.of(aggregate_ratio(method, mode, k, first), name, first_part, AGGREGATE))
    side_parts, side_ratios = probe_lanes.parts(s, device, runnable)  # the same K side by side in one process
    out_parts, ratios = out_parts + side_parts, ratios + side_ratios
    if runnable and beside:
        alone = "evaluation/alone"
        setup = partial(_evaluation_alone, crew, s, device, seconds)
        info = {"kind": "evaluation", "mode": SEARCH, "processes": 1, "attack_steps": ATTACK["steps"]}
        out_parts.append(Part(alone, setup, info, close=crew.close))
        for method, mode in runnable:
            for k in beside:
                name = f"beside/{method}/{mode}/K{k}"
                setup = partial(_training, crew, method, mode, k, True, s, device, seconds, images)
                out_parts.append(Part(name, setup, _info("beside", method, mode, k), close=crew.close))
                alone_k = f"concurrent/{method}/{mode}/K{k}"
                ratios.append(Ratio.of(training_beside_ratio(method, mode, k), name, alone_k, AGGREGATE))
                ratios.append(
                    Ratio.of(evaluation_beside_ratio(method, mode, k), name, alone, "evaluation_images_per_s")
                )
    return out_parts, ratios, skipped


def _info(kind: str, method: str, mode: str, k: int) -> dict:
    return {"kind": kind, "method": method, "mode": mode, "processes": k, "attack_steps": attack_steps(method)}


def _trainers(k: int) -> list[str]:
    return [f"train-{i}" for i in range(k)]


def _evaluation_job(s: dict, device: torch.device):
    return (EVALUATION, f"attack/{SEARCH}", partial(attack_step, SEARCH, s, str(device)), 1, str(device))


def _training(crew: Crew, method: str, mode: str, k: int, with_evaluation: bool, s: dict, device, seconds, images):
    """Set up k training processes of `method` in `mode` (and the evaluation's): the part's `run`."""
    key = f"{method}/{mode}"
    factory = partial(train_step, method, mode, s, str(device))
    jobs = [(worker, key, factory, s["steps"], str(device)) for worker in _trainers(k)]
    if with_evaluation:
        jobs.append(_evaluation_job(s, device))
    crew.build(jobs)
    assignments = [(worker, key) for worker in _trainers(k)]
    if with_evaluation:
        assignments.append((EVALUATION, f"attack/{SEARCH}"))

    def run() -> dict[str, float]:
        spans = crew.run(assignments, seconds)
        rates = [spans[worker].rate(images) for worker in _trainers(k)]
        values = {"images_per_s_aggregate": sum(rates), "images_per_s_per_process": statistics.median(rates)}
        if with_evaluation:
            values["evaluation_images_per_s"] = spans[EVALUATION].rate(s["attack_images"])
        return values

    return run


def _evaluation_alone(crew: Crew, s: dict, device, seconds):
    """Set up the evaluation's process: the part's `run`, the evaluation alone."""
    crew.build([_evaluation_job(s, device)])

    def run() -> dict[str, float]:
        span = crew.run([(EVALUATION, f"attack/{SEARCH}")], seconds)[EVALUATION]
        return {"evaluation_images_per_s": span.rate(s["attack_images"])}

    return run
