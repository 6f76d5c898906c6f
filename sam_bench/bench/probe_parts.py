"""The real parts of `sam-bench bench --probe` (train/, conv/, seeds/, attack/, then those of probe_arrangement.py:
the table in docs/benchmarks.md); the steps themselves are built in probe_steps.py, on synthetic images and
untrained networks, and the schedule and record are probe.py's.
"""

from __future__ import annotations

from functools import partial

import torch

from sam_bench.bench import probe_arrangement
from sam_bench.bench.environment import environment
from sam_bench.bench.measurement import ATTACK, attack_steps, probe_device, synchronizer
from sam_bench.bench.probe import Part, Ratio, run_probe, timed
from sam_bench.bench.probe_grouped import conv_pass
from sam_bench.bench.probe_steps import attack_step, train_step, training_setup
from sam_bench.errors import BadInput
from sam_bench.training import method_table as table
from sam_bench.training.grouped_step import GroupedStep, groupable
from sam_bench.training.static_step import step_generator

MODES = ("eager", "static", "graph", "compiled")
DEFAULTS = {
    "methods": ("standard", "sam", "at"),
    "modes": ("eager", "static", "graph", "compiled"),
    "concurrency": (1, 2, 4),
    "concurrent_methods": ("standard",),
    "concurrent_modes": probe_arrangement.DEFAULT_MODES,
    "beside": None,  # the K values with an evaluation beside them: None is every K of concurrency
    "concurrent_s": probe_arrangement.DEFAULT_SECONDS,
    "in_process": False,  # the K of concurrency side by side in one process too (probe_lanes.py)
    "grouped": (4,),
    "grouped_methods": ("standard",),
    "batch_size": 128,
    "steps": 5,
    "attack_images": 512,
}


def check(s: dict) -> None:
    """One line for settings the probe cannot run, before anything is built (what cannot run on this
    device, e.g. a CUDA graph on a CPU, is recorded as not applicable instead)."""
    unknown = [
        m for m in [*s["methods"], *s["concurrent_methods"], *s.get("grouped_methods", ())] if m not in table.names()
    ]
    if unknown:
        raise BadInput(f"unknown method {unknown[0]!r}; choose from {', '.join(table.names())}")
    bad = [m for m in s["modes"] if m not in MODES]
    if bad:
        raise BadInput(f"unknown step mode {bad[0]!r}; choose from {', '.join(MODES)}")
    if any(n < 2 for n in s.get("grouped", ())):
        raise BadInput(f"--grouped takes model counts of 2 or more, got {list(s['grouped'])}")
    if not s["concurrency"] or any(k < 1 for k in s["concurrency"]):
        raise BadInput(f"--concurrency takes process counts of 1 or more, got {list(s['concurrency'])}")
    for name in ("batch_size", "steps", "attack_images"):
        if s[name] < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be at least 1, got {s[name]}")
    if s.get("threads") is not None and s["threads"] < 1:
        raise BadInput(f"--threads must be at least 1, got {s['threads']}")
    probe_arrangement.check(s)


def build(s: dict, device: torch.device) -> tuple[list[Part], list[Ratio], dict[str, str]]:
    """The probe's parts in the order they are set up (what the plan needs most first), its ratios,
    and what does not apply on this device, with why."""
    parts: list[Part] = []
    ratios: list[Ratio] = []
    skipped: dict[str, str] = {}
    modes = [m for m in MODES if m in s["modes"]]
    for mode in modes:  # every method eager first: the plan reads those
        for method in s["methods"]:
            name = f"train/{method}/{mode}"
            if why := probe_arrangement.not_runnable(method, mode, device):
                skipped[name] = why
                continue
            factory = partial(train_step, method, mode, s, str(device))
            info = {"kind": "train", "method": method, "mode": mode, "attack_steps": attack_steps(method)}
            parts.append(Part(name, partial(_timed_factory, factory, s["steps"], device), info))
            if mode != "eager":
                speed_up = f"{method}: {mode} speed-up (eager step / {mode} step)"
                ratios.append(Ratio.of(speed_up, f"train/{method}/eager", name))
    more_parts, more_ratios, more_skipped = probe_arrangement.parts(s, device)
    parts, ratios = parts + more_parts, ratios + more_ratios
    skipped.update(more_skipped)
    for n in s.get("grouped", ()):
        for how in ("separate", "grouped"):
            factory = partial(conv_pass, n, how == "grouped", s, str(device))
            info = {"kind": "conv", "mode": how, "processes": 1, "models": n}
            parts.append(Part(f"conv/{how}/N{n}", partial(_timed_factory, factory, s["steps"], device), info))
        speed_up = f"conv: grouped speed-up, N={n} (N separate / one grouped)"
        ratios.append(Ratio.of(speed_up, f"conv/separate/N{n}", f"conv/grouped/N{n}"))
        for method in s.get("grouped_methods", ()):
            if not groupable(method):
                skipped[f"seeds/{method}/N{n}"] = f"{method} has a step of its own; it cannot train grouped"
                continue
            for how in ("separate", "grouped"):
                factory = partial(seeds_step, method, n, how == "grouped", s, str(device))
                info = {"kind": "seeds", "method": method, "mode": how, "processes": 1, "models": n}
                info["attack_steps"] = attack_steps(method)
                parts.append(
                    Part(f"seeds/{method}/{how}/N{n}", partial(_timed_factory, factory, s["steps"], device), info)
                )
            speed_up = f"{method}: grouped step speed-up, N={n} (N static steps / one grouped step)"
            ratios.append(Ratio.of(speed_up, f"seeds/{method}/separate/N{n}", f"seeds/{method}/grouped/N{n}"))
    if device.type == "cuda":
        for mode in ("tf32", "ieee"):
            info = {"kind": "attack", "mode": mode, "attack_steps": ATTACK["steps"]}
            parts.append(Part(f"attack/{mode}", partial(attack_run, mode, s, device), info))
        ratios.append(
            Ratio.of("attack search: TF32 / strict fp32 images/s", "attack/tf32", "attack/ieee", "images_per_s")
        )
    else:
        skipped["attack/tf32 vs attack/ieee"] = f"no TF32 on a {device.type} device: both would be the same fp32"
    return parts, ratios, skipped


def _timed_factory(factory, steps: int, device: torch.device):
    return timed(factory(), steps, synchronizer(device))


def seeds_step(method: str, n: int, grouped: bool, s: dict, device_name: str):
    """N seeds of `method` (seeds s["seed"] .. + n - 1): N static steps, one per model, or one grouped
    step of all N (training/grouped_step.py, `train --step-mode grouped`); a callable of nothing."""
    seeds = [s["seed"] + i for i in range(n)]
    if not grouped:
        separate = [train_step(method, "static", {**s, "seed": seed}, device_name) for seed in seeds]

        def one_each() -> None:
            for step in separate:
                step()

        return one_each
    device = probe_device(s, device_name)
    runs = [training_setup(method, "static", {**s, "seed": seed}, device) for seed in seeds]
    group = GroupedStep(
        method,
        [run.model for run in runs],
        [run.optimizer for run in runs],
        [run.attack for run in runs],
        [step_generator(seed, device) for seed in seeds],
        runs[0].autocast,
    )

    def together() -> None:
        batches = [next(run.batches) for run in runs]
        group(torch.stack([x for x, _ in batches]), torch.stack([y for _, y in batches]), runs[0].cfg.lr)

    return together


def attack_run(mode: str, s: dict, device: torch.device):
    """A repetition of the attacks' search in `mode` ("tf32" or "ieee"): {"images_per_s": ...}."""
    seconds = timed(attack_step(mode, s, str(device)), 1, synchronizer(device), key="seconds")

    def run() -> dict[str, float]:
        took = seconds()["seconds"]
        return {"seconds": took, "images_per_s": s["attack_images"] / took}

    return run


def probe(s: dict, device: torch.device, out, budget_s: float, commit: str | None = None, log=None) -> dict:
    """`sam-bench bench --probe`: the parts for `s` on `device`, timed within `budget_s`, written to `out`."""
    check(s)
    parts, ratios, skipped = build(s, device)
    previous = torch.get_num_threads()
    if s.get("threads"):
        torch.set_num_threads(s["threads"])
    try:
        env = environment(device, commit)
        settings = {**s, "budget_s": budget_s, "device": str(device), "attack": dict(ATTACK)}
        settings["beside"] = probe_arrangement.beside_counts(s)
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
        return run_probe(parts, ratios, budget_s, out, env, settings, skipped, log=log)
    finally:
        torch.set_num_threads(previous)
