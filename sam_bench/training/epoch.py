"""One training epoch: the learning rate at each step, the steps with their progress bar, the clean test
pass after it, and how long the next one is expected to take (what `train` schedules against a limit)."""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import torch
from tqdm.auto import tqdm

from sam_bench.data import DeviceLoader
from sam_bench.errors import SamBenchError
from sam_bench.runtime import lanes
from sam_bench.training.config import TrainConfig  # the settings, declared torch-free
from sam_bench.training.methods import train_step


def learning_rate(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    if cfg.schedule == "piecewise":  # the paper's: x0.1 at 75% and x0.01 at 90% of the epochs
        f = epoch / cfg.epochs
        return cfg.lr * (1.0 if f < 0.75 else 0.1 if f < 0.9 else 0.01)
    t = (epoch * steps_per_epoch + step) / (cfg.epochs * steps_per_epoch)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def step_record(cfg: TrainConfig) -> dict:
    """What an epoch's steps were, as its log line records it: the method and SAM's rho (None for a method without
    SAM's pass); what a board or report shows of a run's method is checked against it (training.run_check)."""
    return {"method": cfg.method, "rho": cfg.rho}


def evaluate_clean(model, loader: DeviceLoader, autocast=nullcontext, ctx=None) -> float:
    """Test accuracy; under torchrun each process scores its share of the test set."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=loader.y.device)
    for x, y in loader.epoch():
        with autocast():
            correct += (model(x).argmax(1) == y).sum()
    if ctx is None:
        return correct.item() / len(loader.y)
    totals = ctx.sum(torch.stack([correct, torch.tensor(len(loader.y), device=correct.device)]))
    return totals[0].item() / totals[1].item()


def expected_epoch_seconds(epoch_wall_s: float, record: dict, steps: int, first_of_call: bool) -> float:
    """How long the next epoch (training, test pass, checkpoint) will take: as long as this one,
    less what the first step of a call costs beyond a warm step (torch.compile, cuDNN autotuning)."""
    if not first_of_call or steps < 2:
        return epoch_wall_s
    warm_step_s = (record["seconds"] - record["first_step_s"]) / (steps - 1)
    return epoch_wall_s - max(0.0, record["first_step_s"] - warm_step_s)


def epoch_bar(cfg: TrainConfig, epoch: int, steps_per_epoch: int, progress: bool, runs: int = 1) -> tqdm:
    """An epoch's progress bar (the loss, accuracy, images/s and learning rate go into its postfix)."""
    group = f" ({runs} runs)" if runs > 1 else ""
    return tqdm(
        total=steps_per_epoch,
        desc=f"epoch {epoch + 1}/{cfg.epochs}{group}",
        unit="batch",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )


def train_one_epoch(
    cfg,
    model,
    optimizer,
    loader,
    epoch,
    autocast,
    progress,
    out,
    steps_per_epoch,
    shard=None,
    saved_epoch: int = 0,
    step=None,
) -> dict:
    """`step`: the run's static or graphed step (training/step_mode.py), called as step(x, y, lr); None:
    the eager step of training.methods."""
    model.train()
    device = loader.y.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen, log_every = 0, max(1, min(50, steps_per_epoch // 10))
    loss_sum_all, correct_all = loss_sum, correct  # one process: the same tensors, summed in place
    attack, settings = cfg.attack(), cfg.step_settings(epoch)
    start, cpu_start = time.time(), time.process_time()
    bar = epoch_bar(cfg, epoch, steps_per_epoch, progress)
    for i, (x, y) in enumerate(loader.epoch(epoch)):
        lr = learning_rate(cfg, epoch, i, steps_per_epoch)
        if step is None:
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, logits = train_step(cfg.method, model, optimizer, x, y, attack, autocast, shard, settings=settings)
        else:
            loss, logits = step(x, y, lr)  # it sets the learning rate, on the device and in the groups
        if i == 0:  # the first step carries compilation and autotuning: the time limit discounts it
            if device.type == "cuda":
                torch.cuda.current_stream(device).synchronize()  # this run's stream: lanes beside it run on
            first_step_s = time.time() - start
        y_trained = y if shard is None else shard.dist.take(y)
        # Accumulate on the device; the host reads the numbers once per log interval.
        loss_sum += loss * len(y_trained)
        correct += (logits.argmax(1) == y_trained).sum()
        seen += len(y)  # the global batch: under torchrun the sums below are over all processes
        if (i + 1) % log_every == 0 or i + 1 == steps_per_epoch:
            if shard is not None:
                totals = shard.dist.sum(torch.stack([loss_sum, correct.to(loss_sum.dtype)]))
                loss_sum_all, correct_all = totals[0], totals[1].round().long()
            mean_loss = loss_sum_all.item() / seen
            if not math.isfinite(mean_loss):
                bar.close()
                kept = (
                    f"the last checkpoint (epoch {saved_epoch}) is kept" if saved_epoch else "no checkpoint was written"
                )
                raise SamBenchError(
                    f"training loss became {mean_loss} in epoch {epoch + 1} (step {i + 1}); stopped: {kept} in {out}"
                )
            bar.set_postfix(
                loss=f"{mean_loss:.3f}",
                acc=f"{correct_all.item() / seen:.1%}",
                img_s=f"{seen / max(time.time() - start, 1e-9):.0f}",
                lr=f"{lr:.3g}",
            )
        bar.update(1)
        lanes.turn()  # runs beside this one in the process take their step (runtime/lanes.py; alone: nothing)
    bar.close()
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()
    seconds = time.time() - start
    return {
        "epoch": epoch + 1,
        **step_record(cfg),
        "lr": learning_rate(cfg, epoch, 0, steps_per_epoch),
        "train_loss": loss_sum_all.item() / max(seen, 1),
        "train_acc": correct_all.item() / max(seen, 1),
        "seconds": seconds,
        # The process's CPU time: what the epoch cost even when other work shared the cores (wall time grows then)
        "cpu_seconds": time.process_time() - cpu_start,
        "first_step_s": first_step_s,
        "images": seen,
        "images_per_s": seen / max(seconds, 1e-9),
    }
