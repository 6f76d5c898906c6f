"""Several processes, one run: `torchrun --nproc_per_node N -m sam_bench train|evaluate ...`, or srun's tasks.

Data parallelism that computes what one process computes, up to floating-point rounding (docs/training.md,
"Several GPUs: torchrun"): every process sees the same global batch and trains on its 1/N slice; BatchNorm takes
the whole global batch's statistics (`GlobalBatchNorm2d` below where torch's SyncBatchNorm does not run).
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from sam_bench.errors import BadInput

SAM_PERTURBATIONS = ("global", "per-worker")


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_by_srun() -> bool:
    """One of several tasks of a SLURM job step (srun), not under torchrun."""
    return (
        not launched_by_torchrun()
        and int(os.environ.get("SLURM_NTASKS", os.environ.get("SLURM_STEP_NUM_TASKS", "1"))) > 1
        and "SLURM_PROCID" in os.environ
        and "SLURM_STEP_ID" in os.environ
    )


def first_node(nodelist: str) -> str:
    """The first host of a SLURM node list ("gpu[03-04,07],cpu1" -> "gpu03"), by scontrol where it is."""
    try:
        shown = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=30)
        if shown.returncode == 0 and shown.stdout.split():
            return shown.stdout.split()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    head = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if head is None:
        raise BadInput(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = head.groups()
    return prefix + (ranges.split(",")[0].split("-")[0] if ranges else "")


def slurm_environment() -> dict[str, str]:
    """torchrun's variables from SLURM's own (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the node list):
    rank 0's node is the master; the port comes from the job id, so that two jobs sharing a node
    differ. MASTER_ADDR and MASTER_PORT already set (e.g. by a setup line) are kept."""
    env = os.environ
    nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
    return {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env.get("SLURM_NTASKS") or env["SLURM_STEP_NUM_TASKS"],
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": env.get("MASTER_ADDR") or (first_node(nodes) if nodes else "127.0.0.1"),
        "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000),
    }


@dataclass
class Distributed:
    """This process's place in the process group."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, t):
        """This process's slice of a global batch (a tensor or an array split along its first axis)."""
        n = len(t)
        if n % self.world:
            raise BadInput(f"a batch of {n} cannot be split evenly over {self.world} processes")
        k = n // self.world
        return t[self.rank * k : (self.rank + 1) * k]

    def share(self, t):
        """The part of a whole split (e.g. the test set) this process handles; parts may differ by one."""
        n = len(t)
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        return t[lo:hi]

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision, on every process (e.g. a time limit that only one clock should judge)."""
        box = [flag]
        dist.broadcast_object_list(box, src=0)
        return bool(box[0])

    def gather(self, obj) -> list:
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        dist.barrier()


_current: Distributed | None = None


def current() -> Distributed | None:
    """The process group this process belongs to, or None when it runs alone."""
    return _current


def start(device: str = "auto") -> Distributed | None:
    """Join the process group of torchrun, or of srun's tasks (NCCL on GPUs, Gloo on CPUs); None when
    this process runs alone."""
    global _current
    if _current is None and launched_by_srun():
        os.environ.update(slurm_environment())
    if _current is not None or not launched_by_torchrun():
        return _current
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if torch.cuda.device_count() <= local:
            raise BadInput(f"process {rank} needs GPU {local}, but {torch.cuda.device_count()} are visible")
        where = torch.device("cuda", local)
        torch.cuda.set_device(where)
    elif device in ("auto", "cpu"):
        where = torch.device("cpu")
    else:
        raise BadInput(f"--device {device} is not supported under torchrun (use cuda or cpu)")
    backend = "nccl" if use_cuda else "gloo"
    device_id: dict[str, Any] = {"device_id": where} if use_cuda else {}
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(minutes=30), **device_id)
    _current = Distributed(rank, world, where)
    return _current


def stop() -> None:
    """Leave the process group, after a barrier that every process reaches when it leaves cleanly: a process that
    destroys its group while another still works aborts in Gloo's threads now and then ("terminate called without
    an active exception"). Called while an error is on its way out, it leaves without the barrier: the others may
    never reach it."""
    global _current
    if _current is not None:
        if sys.exc_info()[1] is None:
            dist.barrier()
        dist.destroy_process_group()
        _current = None


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) with a gradient: d(sum)/d(each part) passes the summed upstream gradient back."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverProcesses.forward(ctx, grad)


class GlobalBatchNorm2d(torch.nn.BatchNorm2d):
    """BatchNorm2d with training statistics over the global batch of all processes, where torch's SyncBatchNorm
    (GPUs only) is not: the per-channel sums travel through differentiable all-reduces, so gradients flow across
    processes as through one BatchNorm over the whole batch. Same parameters and buffers as BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() / x.shape[1])])
        total = _SumOverProcesses.apply(local)
        count = total[-1].detach()
        mean = total[:-1] / count
        centred = x - mean.view(1, -1, 1, 1)
        var = _SumOverProcesses.apply((centred * centred).sum(dims)) / count
        if self.track_running_stats:
            # buffers whenever track_running_stats
            assert self.num_batches_tracked is not None
            assert self.running_mean is not None and self.running_var is not None
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / (count - 1).clamp(min=1), momentum)
        out = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return out


def _to_global_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    if type(module) is torch.nn.BatchNorm2d:
        new = GlobalBatchNorm2d(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        like = next(iter([*module.parameters(), *module.buffers()]), None)
        if like is not None:
            new = new.to(device=like.device, dtype=like.dtype)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _to_global_batchnorm(child))
    return module


def synchronise_batchnorm(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """BatchNorm over the global batch: torch's SyncBatchNorm on GPUs (timm's converter, which also
    knows timm's fused BatchNorm+activation layers), GlobalBatchNorm2d otherwise."""
    if device.type == "cuda":
        from timm.layers import convert_sync_batchnorm

        return convert_sync_batchnorm(model)
    model = _to_global_batchnorm(model)
    left = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, GlobalBatchNorm2d)
        }
    )
    if left:
        raise BadInput(
            f"multi-process training on CPU synchronises plain BatchNorm2d only; this model also has {', '.join(left)}"
        )
    return model


@dataclass
class Shard:
    """How a training step runs on one process's slice (see sam_bench.methods.train_step)."""

    dist: Distributed
    attack_model: torch.nn.Module  # the bare model: attack passes bypass DDP's gradient hooks
    sam_first_pass: Callable = field(default=nullcontext)  # DDP's no_sync for per-worker SAM


def wrap(model: torch.nn.Module, ctx: Distributed, sam_perturbation: str = "global"):
    """(DDP-wrapped model for training passes, Shard for train_step)."""
    if sam_perturbation not in SAM_PERTURBATIONS:
        raise BadInput(f"unknown SAM perturbation {sam_perturbation!r}; choose {' or '.join(SAM_PERTURBATIONS)}")
    # Buffers (BatchNorm's running statistics) are computed from global statistics on every
    # process, so they agree without DDP broadcasting them before every forward pass (the option
    # was renamed in recent torch releases).
    newer = "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
    no_buffer_sync: dict[str, Any] = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
    ddp = DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None, **no_buffer_sync)
    first = ddp.no_sync if sam_perturbation == "per-worker" else nullcontext
    return ddp, Shard(ctx, model, first)


def check_batch(batch_size: int, ctx: Distributed) -> None:
    if batch_size % ctx.world:
        raise BadInput(
            f"--batch-size {batch_size} must be divisible by the {ctx.world} processes "
            "(it is the global batch, split evenly)"
        )
