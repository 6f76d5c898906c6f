"""The steps `sam-bench bench --probe` times, built as `train` and `evaluate` build theirs, on synthetic images
(throughput does not depend on what they show) and untrained networks: a training step of a method in a step
mode, and a batch of the attacks' search. Each factory is a module-level function of picklable arguments, so
that `functools.partial` of it crosses to a worker process (probe_concurrent.py) and is built there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from sam_bench.attacks.pgd import pgd
from sam_bench.bench.measurement import ATTACK, probe_device, synthetic_images, train_config
from sam_bench.data import STATS, DeviceLoader
from sam_bench.eps import parse_eps
from sam_bench.models import create_model, make_spec
from sam_bench.runtime import math_mode
from sam_bench.runtime.compile_cache import compiled
from sam_bench.runtime.memory_format import place, training_format
from sam_bench.training.loop import autocast_for, build_optimizer
from sam_bench.training.step_mode import generator_for, make_step


class Setup(NamedTuple):
    """What a step of one method trains: its settings, model, endless batches, optimizer, attack, autocast."""

    cfg: Any
    model: torch.nn.Module
    batches: Iterator
    optimizer: Any
    attack: dict | None
    autocast: Any


def synthetic_setup(
    cfg, device: torch.device, seed: int, classes: int, mean, std, arch_kwargs, precision: str, images=None
) -> Setup:
    """`cfg`'s training set up as `train` sets it up, on `images` (x, y), else synthetic ones of `classes` classes."""
    x, y = images if images is not None else synthetic_images(8 * cfg.batch_size, classes, seed=seed)
    torch.manual_seed(seed)
    model = create_model(make_spec(cfg.arch, classes, mean, std, cfg.width, arch_kwargs))
    layout = training_format(model, device)
    model = place(model, device, layout)
    model.train()
    loader = DeviceLoader(x, y, cfg.batch_size, device, train=True, seed=seed, memory_format=layout)
    batches = itertools.chain.from_iterable(loader.epoch(e) for e in itertools.count())
    return Setup(cfg, model, batches, build_optimizer(cfg, model), cfg.attack(), autocast_for(precision, device))


def training_setup(method: str, mode: str, s: dict, device: torch.device) -> Setup:
    """A method's training in a probe, on synthetic images."""
    cfg = train_config(method, s, device, compile=mode == "compiled")
    return synthetic_setup(cfg, device, s["seed"], 10, *STATS["cifar10"], None, s["precision"])


def train_step(method: str, mode: str, s: dict, device_name: str):
    """One training step of `method` in `mode` on synthetic images, as `train` takes it: a callable of
    nothing (picklable through partial: the concurrent workers build theirs with it)."""
    from sam_bench.training.methods import train_step as eager_step

    device = probe_device(s, device_name)
    cfg, model, batches, optimizer, attack, autocast = training_setup(method, mode, s, device)
    settings = cfg.step_settings(cfg.epochs - 1)
    if mode in ("eager", "compiled"):
        forward = compiled(model) if mode == "compiled" else model

        def step():
            xb, yb = next(batches)
            eager_step(method, forward, optimizer, xb, yb, attack, autocast, settings=settings)

        return step
    static = make_step(mode, method, model, optimizer, attack, autocast, generator_for(mode, s["seed"], device))

    def static_step():
        xb, yb = next(batches)
        static(xb, yb, cfg.lr)

    return static_step


def attack_step(mode: str, s: dict, device_name: str):
    """One batch of the attacks' search in `mode` ("tf32" or "ieee"), as an evaluation runs it: PGD-10 (Linf 8/255)
    on `s["attack_images"]` images of an eval-mode model, no autotuning; a callable of nothing."""
    device = probe_device(s, device_name)
    torch.manual_seed(s["seed"])
    model = create_model(make_spec(s["arch"], 10, *STATS["cifar10"], s["width"], s.get("arch_kwargs"))).to(device)
    model.eval()
    xs, ys = synthetic_images(s["attack_images"], 10, seed=s["seed"])
    x = torch.from_numpy(xs).to(device).permute(0, 3, 1, 2).float().div(255).contiguous()
    y = torch.from_numpy(ys).to(device)
    eps, step_size = parse_eps(ATTACK["eps"]), parse_eps(ATTACK["step_size"])

    def attack() -> None:
        with math_mode.evaluation(), math_mode.search(mode):
            pgd(model, x, y, eps, ATTACK["norm"], ATTACK["steps"], step_size)

    return attack
