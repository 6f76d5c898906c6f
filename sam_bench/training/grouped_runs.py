"""Several runs of one recipe trained together as one network (`sam-bench train --step-mode grouped
--seeds 0,1,2,3`; the step: training/grouped_step.py; docs/training.md). Each run is built exactly as `train`
builds it and only the steps are taken together, in lockstep; so each run records the group's wall and CPU time
and names the group (`grouped_with`). The runs start, stop and resume together.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.runtime import clock, distributed, math_mode
from sam_bench.training.config import RUNTIME_KEYS, TrainConfig
from sam_bench.training.epoch import epoch_bar, learning_rate, step_record
from sam_bench.training.grouped_step import GroupedStep, groupable
from sam_bench.training.loop import Run, checked_out

# What may differ between the runs of a group (besides how each call runs: RUNTIME_KEYS)
PER_RUN = {"seed", "rho", "attack_eps", "attack_step_size"}


def check_group(cfgs: list[TrainConfig]) -> None:
    """One line for a group that cannot train together."""
    if not cfgs:
        raise BadInput("a group needs at least one run")
    first = cfgs[0]
    for cfg in cfgs:
        cfg.validate()
        if cfg.step_mode != "grouped":
            raise BadInput(f"a group's runs train with --step-mode grouped, not {cfg.step_mode}")
    if not groupable(first.method):
        raise BadInput(
            f"{first.method} has a step of its own; it cannot train grouped: use --step-mode eager or static"
        )
    seeds = [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise BadInput(f"a group trains each seed once; seeds given: {', '.join(map(str, seeds))}")
    shared = {k: v for k, v in asdict(first).items() if k not in PER_RUN | RUNTIME_KEYS}
    for cfg in cfgs[1:]:
        other = asdict(cfg)
        differ = sorted(k for k, v in shared.items() if other[k] != v)
        if differ:
            names = ", ".join("--" + k.replace("_", "-") for k in differ)
            raise BadInput(f"the runs of a group differ in {names}; only the seed, rho and attack budget may differ")


@math_mode.restores_switches  # as train: cuDNN's autotuner on a GPU is put back when the group returns
def train_grouped(
    cfgs: list[TrainConfig],
    outs: list[str | Path],
    resume: bool = False,
    stop_after_epochs: int | None = None,
    progress: bool = True,
    stop_at: float | None = None,
) -> list[dict]:
    """Train (or continue) the runs in `outs` together; returns their metadata, in order. The limits are
    `train`'s: the group stops after an epoch, leaving every run resumable."""
    if distributed.launched_by_torchrun() or distributed.launched_by_srun():
        # every process would train the whole group into the same folders
        raise BadInput("--step-mode grouped trains in one process; run it without torchrun or srun's tasks")
    check_group(cfgs)
    folders = [Path(o) for o in outs]
    if len(folders) != len(cfgs) or len(set(folders)) != len(folders):
        raise BadInput("a group needs one folder of its own per run")
    finished = [checked_out(cfg, out, resume, None) for cfg, out in zip(cfgs, folders, strict=True)]
    if all(f is not None for f in finished):
        return finished  # type: ignore[return-value]  # all of them: nothing to do
    if any(f is not None for f in finished):
        done = ", ".join(str(o) for o, f in zip(folders, finished, strict=True) if f is not None)
        raise BadInput(f"--resume: {done} finished and the rest did not; a group continues runs that stopped together")
    runs = [Run.build(cfg, out, resume, None, progress and i == 0) for i, (cfg, out) in enumerate(zip(cfgs, folders))]
    starts = {run.start_epoch for run in runs}
    if len(starts) != 1:
        raise BadInput(
            f"--resume: the runs stopped after different epochs ({', '.join(map(str, sorted(starts)))}); "
            "a group continues runs that stopped together"
        )
    group_names = [str(out) for out in folders]
    for run in runs:
        run.metadata["grouped_with"] = group_names
        run.out.mkdir(parents=True, exist_ok=True)
        files.write_json(run.out / "metadata.json", run.metadata)
    step = GroupedStep(
        cfgs[0].method,
        [run.forward_model for run in runs],
        [run.optimizer for run in runs],
        [run.cfg.attack() for run in runs],
        [run.generator for run in runs],
        runs[0].autocast,
    )
    for epoch in range(runs[0].start_epoch, cfgs[0].epochs):
        epoch_start = clock.now()
        records = _group_epoch(runs, step, epoch, progress)
        step.sync()  # the models hold the epoch's weights before the test pass and the checkpoint
        for run, record in zip(runs, records, strict=True):
            run.measure(epoch, record)
        save_s = sum(run.last_save_s for run in runs)
        # Every run counts the epoch of this call (stops_after does); the same clock and record give them one
        # answer, the first's
        stops = [run.stops_after(epoch, epoch_start, records[0], stop_at, stop_after_epochs, save_s) for run in runs]
        stop = stops[0]
        for run in runs:
            run.close_epoch(epoch, stop)
        if stop:
            return [run.stopped(epoch) for run in runs]
    return [run.finish() for run in runs]


def _group_epoch(runs: list[Run], step: GroupedStep, epoch: int, progress: bool) -> list[dict]:
    """One epoch of every run, a batch of each per step; a training record per run, as train_one_epoch's."""
    cfg, device = runs[0].cfg, runs[0].device
    steps_per_epoch = len(runs[0].train_loader)
    losses = torch.zeros(len(runs), device=device)
    correct = torch.zeros(len(runs), dtype=torch.long, device=device)
    seen, log_every = 0, max(1, min(50, steps_per_epoch // 10))
    start, cpu_start = time.time(), time.process_time()
    bar = epoch_bar(cfg, epoch, steps_per_epoch, progress, runs=len(runs))
    first_step_s = 0.0
    for i, batches in enumerate(zip(*(run.train_loader.epoch(epoch) for run in runs), strict=True)):
        lr = learning_rate(cfg, epoch, i, steps_per_epoch)
        ys = torch.stack([y for _, y in batches])
        loss, logits = step(torch.stack([x for x, _ in batches]), ys, lr)
        if i == 0:  # the first step carries compilation and autotuning: the time limit discounts it
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            first_step_s = time.time() - start
        losses += loss * ys.shape[1]
        correct += (logits.argmax(-1) == ys).sum(1)
        seen += ys.shape[1]
        if (i + 1) % log_every == 0 or i + 1 == steps_per_epoch:
            mean = (losses / seen).tolist()
            broken = [run.out for run, m in zip(runs, mean, strict=True) if not math.isfinite(m)]
            if broken:
                bar.close()
                raise SamBenchError(
                    f"training loss became non-finite in epoch {epoch + 1} (step {i + 1}) of {broken[0]}; the group "
                    f"stopped: each run keeps its last checkpoint (epoch {runs[0].saved_epoch}, 0: none)"
                )
            bar.set_postfix(
                loss=f"{sum(mean) / len(mean):.3f}", img_s=f"{seen * len(runs) / max(time.time() - start, 1e-9):.0f}"
            )
        bar.update(1)
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu_seconds = time.time() - start, time.process_time() - cpu_start
    return [
        {
            "epoch": epoch + 1,
            **step_record(cfg),
            "lr": learning_rate(cfg, epoch, 0, steps_per_epoch),
            "train_loss": losses[k].item() / max(seen, 1),
            "train_acc": correct[k].item() / max(seen, 1),
            "seconds": seconds,  # the group's: one run's share is not separable
            "cpu_seconds": cpu_seconds,
            "first_step_s": first_step_s,
            "images": seen,
            "images_per_s": seen / max(seconds, 1e-9),
        }
        for k in range(len(runs))
    ]
