"""One throughput measurement, as every part of `sam-bench bench` takes it: the synthetic images (throughput does
not depend on what the pixels show), the attack (the paper's Linf 8/255 PGD-10), the clock (`steps` calls after
`warmup` untimed ones, `repeats` times, read after a CUDA synchronize) and the record of one measurement.
"""

from __future__ import annotations

import statistics
import time
from typing import TypedDict

import numpy as np
import torch

from sam_bench.training import method_table as table
from sam_bench.training.config import TrainConfig

EPOCH_IMAGES = 50_000  # CIFAR-10's training set: "epoch seconds" = EPOCH_IMAGES / images_per_s


class AttackSettings(TypedDict):
    norm: str
    eps: str
    steps: int
    step_size: str


ATTACK: AttackSettings = {"norm": "Linf", "eps": "8/255", "steps": 10, "step_size": "2/255"}  # the paper's PGD-10


def attack_steps(method: str) -> int | None:
    """The attack steps of a method's training step in a bench (None: it trains on clean images)."""
    return ATTACK["steps"] if table.uses_attack(method) else None


def train_config(method: str, s: dict, device: torch.device, compile: bool):
    """The settings `train` would run this method with in a bench (`s`: the bench's settings), its optimizer and
    attack (ATTACK) built from them."""
    return TrainConfig(
        method=method,
        arch=s["arch"],
        width=s["width"],
        arch_kwargs=s.get("arch_kwargs"),
        batch_size=s["batch_size"],
        rho=s["rho"] if table.uses_sam(method) else None,  # None: the method's own default (method_table)
        attack_norm=ATTACK["norm"],
        attack_eps=ATTACK["eps"],
        attack_steps=ATTACK["steps"],
        attack_step_size=ATTACK["step_size"],
        device=str(device),
        compile=compile,
    ).validate()


def synthetic_images(n: int, num_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 32, 32, 3) images: a blocky per-class colour pattern plus noise (learnable)."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 256, size=(num_classes, 4, 4, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
    y = rng.integers(0, num_classes, size=n).astype(np.int64)
    x = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(0, n, 4096):  # in pieces: a 50,000-image set never needs more than a few MB extra
        noise = rng.integers(0, 256, size=(min(4096, n - i), 32, 32, 3), dtype=np.uint16)
        x[i : i + 4096] = (patterns[y[i : i + 4096]].astype(np.uint16) * 3 + noise * 2) // 5
    return x, y


def summarize(values: list[float]) -> dict:
    return {"runs": list(values), "median": statistics.median(values), "min": min(values), "max": max(values)}


def probe_device(s: dict, device_name: str) -> torch.device:
    """The device a probe's part works on, in a process whose torch threads are set to `s["threads"]` if given."""
    if s.get("threads"):
        torch.set_num_threads(s["threads"])
    return torch.device(device_name)


def synchronizer(device: torch.device):
    """What makes the clock wait for the device's work: a CUDA synchronize, or nothing."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def timed_runs(step, batches, steps: int, warmup: int, repeats: int, sync) -> list[float]:
    """Seconds of `steps` calls of step(*next(batches)), `repeats` times, after `warmup` calls."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        step(*next(batches))
    runs = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            step(*next(batches))
        sync()
        runs.append(time.perf_counter() - start)
    return runs


def peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def measurement(runs_s: list[float], images_per_run: int, batch_size: int, steps: int, **extra) -> dict:
    """The record of one measurement: its repetitions' seconds and images/s, and the epoch seconds."""
    ips = summarize([images_per_run / s for s in runs_s])
    return {
        "batch_size": batch_size,
        "steps_per_run": steps,
        "images_per_run": images_per_run,
        "seconds": summarize(runs_s),
        "images_per_s": ips,
        "epoch_s": EPOCH_IMAGES / ips["median"],
        **extra,
    }
