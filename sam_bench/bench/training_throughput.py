"""Training throughput: sam-bench's loop (`fast_training`, its steps as `train` takes them) and the paper's
(`paper_training`, `bench.paper_loop`), timed on the same images in one process for as many images per
repetition; both clocks are read after a CUDA synchronize, and both include getting the batch.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from sam_bench.bench.measurement import ATTACK, measurement, peak_memory_gib, synchronizer, timed_runs, train_config
from sam_bench.bench.paper_loop import endless, make_normalize, paper_loader, paper_model, paper_optimizer, paper_step
from sam_bench.bench.probe_steps import synthetic_setup
from sam_bench.data import STATS
from sam_bench.eps import parse_eps
from sam_bench.runtime import math_mode
from sam_bench.runtime.compile_cache import compiled
from sam_bench.runtime.memory_format import PAPER_LOOP, place, training_format
from sam_bench.training import method_table as table
from sam_bench.training.methods import train_step


def fast_training(method, x, y, s, device) -> tuple[dict, torch.nn.Module]:
    """sam-bench's loop timed on images x, y with the benchmark's settings `s`; the model it trained."""
    cfg = train_config(method, s, device, s["compile"])
    _, model, batches, optimizer, attack, autocast = synthetic_setup(
        cfg, device, s["seed"], 10, *STATS["cifar10"], s.get("arch_kwargs"), s["precision"], images=(x, y)
    )
    forward_model = compiled(model) if s["compile"] else model
    settings = cfg.step_settings(cfg.epochs - 1)  # TRADES' beta, AWP's gamma once its warm-up is over
    loss_sum = torch.zeros((), device=device)
    seen = [0]

    def step(xb, yb):
        loss, _ = train_step(method, forward_model, optimizer, xb, yb, attack, autocast, settings=settings)
        loss_sum.add_(loss * len(yb))  # on the device, as the training loop does: no host sync per step
        seen[0] += len(yb)

    runs = timed_runs(step, batches, s["steps"], s["warmup"], s["repeats"], synchronizer(device))
    m = measurement(
        runs,
        s["steps"] * s["batch_size"],
        s["batch_size"],
        s["steps"],
        precision="fp32" if autocast is nullcontext else "bf16",
        channels_last=training_format(model, device) == torch.channels_last,
        compile=s["compile"],
        passes_per_step=table.passes_per_step(method, ATTACK["steps"]),
        peak_memory_gib=peak_memory_gib(device),
        mean_train_loss=loss_sum.item() / max(seen[0], 1),
        math_mode=math_mode.current(),
    )
    if table.uses_attack(method):
        m["attack"] = {**ATTACK, "eps_value": parse_eps(ATTACK["eps"])}
    return m, model


def paper_training(method, x, y, s, device) -> dict:
    """The paper's loop timed on the same images, for as many images per repetition as sam-bench's."""
    loader = paper_loader(x, y, s["paper_batch_size"], s["paper_workers"], seed=s["seed"])
    batches = endless(loader)
    torch.manual_seed(s["seed"])
    model = place(paper_model(10, s["width"]), device, PAPER_LOOP)
    model.train()
    rho = table.method(table.SAM).default_rho if s["rho"] is None else s["rho"]  # the paper's loop trains SAM only
    assert rho is not None, "SAM's record has its default radius"
    optimizer = paper_optimizer(method, model, rho=rho)
    normalize = make_normalize("cifar10")
    attack = dict(eps=parse_eps(ATTACK["eps"]), step_size=parse_eps(ATTACK["step_size"]), steps=ATTACK["steps"])
    totals = [0.0, 0]

    def step(xb, yb):
        loss_n, _ = paper_step(method, model, optimizer, xb, yb, normalize, device, attack)
        totals[0] += loss_n
        totals[1] += len(yb)

    # As many images per repetition as the fast path, so both runs cover the same share of an epoch.
    steps = max(1, round(s["steps"] * s["batch_size"] / s["paper_batch_size"]))
    warmup = max(1, round(s["warmup"] * s["batch_size"] / s["paper_batch_size"])) if s["warmup"] else 0
    runs = timed_runs(step, batches, steps, warmup, s["repeats"], synchronizer(device))
    return measurement(
        runs,
        steps * s["paper_batch_size"],
        s["paper_batch_size"],
        steps,
        precision="fp32",
        channels_last=False,
        compile=False,
        num_workers=s["paper_workers"],
        peak_memory_gib=peak_memory_gib(device),
        math_mode=math_mode.current(),
        data="torch DataLoader, PIL RandomCrop(32, 4, reflect) + RandomHorizontalFlip + ToTensor",
        mean_train_loss=totals[0] / max(totals[1], 1),
    )
