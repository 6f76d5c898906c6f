"""What one training step of each model of a reproduction costs: the measurement behind claim C4 (SAM costs
about 2x ST per step, PGD-k AT about (k+1)x); docs/benchmarks.md (`sam-bench cost`) has the method: every model,
built as `train` builds it on synthetic images, timed in one process in rounds of a rotating order, its ratio to
ST's step taken round by round (training logs are no evidence: a grid's runs train under different loads).

    measure("reproductions/paper-cifar10-cpu", rounds=10, steps=2, threads=1)   # writes cost.json
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path

import torch

from sam_bench import files
from sam_bench.bench.measurement import synchronizer, timed_runs
from sam_bench.bench.probe_steps import synthetic_setup
from sam_bench.data import STATS
from sam_bench.errors import BadInput
from sam_bench.recipes.plan_entry import PlanEntry, plan_entries
from sam_bench.report.folder import read_plan
from sam_bench.report.records import architecture_of
from sam_bench.runtime.provenance import environment, resolve_device
from sam_bench.stats import inference
from sam_bench.training.loop import TrainConfig
from sam_bench.training.method_table import passes_per_step
from sam_bench.training.methods import train_step

SCHEMA = "sam-bench/cost/v1"
MIN_ROUNDS = 6  # fewer rounds give no 95% interval of a median


def measure(
    folder: str | Path,
    rounds: int = 10,
    steps: int = 2,
    warmup: int = 1,
    threads: int | None = 1,
    device: str = "cpu",
    only: list[str] | None = None,
    log=None,
) -> Path:
    """Time every model of the reproduction in `folder` (its first seeds) and write `folder/cost.json`."""
    folder = Path(folder)
    log = log or (lambda message: None)
    if rounds < MIN_ROUNDS or steps < 1 or warmup < 0:
        raise BadInput(f"need --rounds >= {MIN_ROUNDS} (a 95% interval of a median), --steps >= 1, --warmup >= 0")
    if threads is not None and threads < 1:  # torch.set_num_threads(0) raises a RuntimeError
        raise BadInput(f"--threads must be at least 1 (the CPU threads each model is timed with), got {threads}")
    entries = _models_to_time(folder, only)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        dev = resolve_device(device)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        steppers = {m.name: _stepper(m.config, dev) for m in entries}
        for name, step in steppers.items():
            log(f"warming up {name}")
            for _ in range(warmup):
                step()
        seconds: dict[str, list[float]] = {name: [] for name in steppers}
        sync = synchronizer(dev)
        for r in range(rounds):
            log(f"round {r + 1} of {rounds}")
            names = list(steppers)
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotating order
                seconds[name].append(timed_runs(steppers[name], itertools.repeat(()), steps, 0, 1, sync)[0] / steps)
        env = environment(dev)
        env["torch_threads"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
    record = {
        "schema": SCHEMA,
        "created": started,
        "environment": env,
        "settings": {
            "rounds": rounds,
            "steps": steps,
            "warmup": warmup,
            "threads": threads,
            "device": str(dev),
            "order": "rotating within each round",
            "images": "synthetic uint8 (class pattern + noise)",
            "confidence": inference.CONFIDENCE,
        },
        "models": _summaries(entries, seconds),
    }
    path = folder / "cost.json"
    files.write_json(path, record)
    return path


def _models_to_time(folder: Path, only: list[str] | None) -> list[PlanEntry]:
    """The plan's first seed of each model (a later seed costs the same), or the ones named in `only`
    plus the ST of each architecture (the ratios need it)."""
    entries = [m for m in plan_entries(read_plan(folder, fields=())) if m.primary]  # a bad plan: one line
    if only:
        unknown = sorted(set(only) - {m.name for m in entries})
        if unknown:
            raise BadInput(f"{folder} has no model {', '.join(unknown)}")
        needed = {architecture(m) for m in entries if m.name in only}
        entries = [
            m for m in entries if m.name in only or (m.config["method"] == "standard" and architecture(m) in needed)
        ]
    return entries


def architecture(planned: PlanEntry) -> str:
    """The architecture of a run of the plan (`models[]`), as the report names it."""
    return architecture_of(planned.train_config)


def _stepper(config: dict, device):
    """One training step of this model on synthetic images, as `sam_bench.training.loop` runs it."""
    cfg = TrainConfig.from_dict({**config, "device": str(device), "compile": False}).validate()
    family = "cifar100" if "100" in cfg.dataset else "cifar10"
    classes = 100 if family == "cifar100" else 10
    _, model, batches, optimizer, attack, autocast = synthetic_setup(
        cfg, device, cfg.seed, classes, *STATS[family], cfg.arch_kwargs, cfg.precision
    )
    settings = cfg.step_settings(cfg.epochs - 1)  # a step of the last epoch: AWP's warm-up is over

    def step():
        xb, yb = next(batches)
        train_step(cfg.method, model, optimizer, xb, yb, attack, autocast, settings=settings)

    return step


def _summaries(entries: list[PlanEntry], seconds: dict[str, list[float]]) -> list[dict]:
    """Per model: seconds per step (median, 95% interval) and, against its architecture's ST, the
    round-by-round ratio (median, 95% interval)."""
    baselines = {architecture(m): m for m in entries if m.config["method"] == "standard"}
    out = []
    for m in entries:
        cfg = m.config
        base = baselines.get(architecture(m))
        record = {
            "name": m.name,
            "key": m.key,
            "method": cfg["method"],
            "architecture": architecture(m),
            "batch_size": cfg["batch_size"],
            "passes_per_step": passes_per_step(cfg["method"], cfg.get("attack_steps", 0)),
            "step_seconds": _summary(seconds[m.name]),
            "baseline": None,
            "baseline_passes_per_step": None,
            "ratio": None,
        }
        if base is not None and base is not m:
            ratios = [t / b for t, b in zip(seconds[m.name], seconds[base.name])]
            record.update(
                baseline=base.name, ratio=_summary(ratios), baseline_passes_per_step=passes_per_step("standard", 0)
            )
        out.append(record)
    return out


def _summary(values: list[float]) -> dict:
    median, low, high = inference.median_interval(values)
    return {"runs": values, "median": median, "low": low, "high": high}
