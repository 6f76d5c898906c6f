"""How many images an evaluation handles at once: `--batch-size auto` and `--chunk-size auto`.

On a GPU a batch is as large as memory allows (the largest halving of the chunk for which an attack step fits); on
a CPU the sizes stay the ones sam-bench has always used, so that CPU results stay comparable: a batch's size
decides its random draws (docs/results-schema.md)."""

from __future__ import annotations

import math

import torch

from sam_bench.evaluation.attack_table import TABLE

AUTO = "auto"
CPU_BATCH, CPU_CHUNK = 250, 500
# A chunk is the unit of work an interruption can lose, and the upper bound of a batch. AutoAttack's
# chunks on a GPU are smaller: on a robust model most images survive APGD-CE and go through APGD-T, FAB-T
# and Square, and a chunk must end well inside a time-limited call (`--max-minutes`, a scheduler's limit).
# Estimated for a full-width AT-Linf-8 PreActResNet-18: ~22 min for all 10,000 test images in true fp32,
# 4-6 min with TF32: 1,000 images are ~2.2 min in the slower mode.
GPU_CHUNK = 2000
GPU_AUTOATTACK_CHUNK = 1000


def check_size(value, name: str):
    """`auto` or a positive integer; anything else is bad input."""
    if value == AUTO:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or {AUTO}, got {value!r}")
    return value


def chunk_size_for(device: torch.device, n_examples: int, processes: int = 1, attack: str | None = None) -> int:
    """`--chunk-size auto`: CPU_CHUNK on a CPU (every attack: CPU results stay comparable); on a GPU
    GPU_CHUNK, or GPU_AUTOATTACK_CHUNK for AutoAttack, at most a chunk for every process."""
    if device.type != "cuda":
        return CPU_CHUNK
    upper = GPU_AUTOATTACK_CHUNK if attack in TABLE and TABLE[attack].small_gpu_chunks else GPU_CHUNK
    return max(1, min(upper, math.ceil(n_examples / processes)))


def largest_batch(fits, upper: int) -> int:
    """The largest of upper, upper // 2, upper // 4, ... for which `fits(batch)` is true; at least 1."""
    batch = upper
    while batch > 1 and not fits(batch):
        batch //= 2
    return batch


# What running out of GPU memory looks like besides torch's OutOfMemoryError: cuDNN and cuBLAS
# report a failed workspace allocation as a plain RuntimeError with their status name.
OUT_OF_MEMORY_MESSAGES = (
    "out of memory",
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
)


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(m in str(err) for m in OUT_OF_MEMORY_MESSAGES)
    )


def attack_step_fits(model: torch.nn.Module, example: torch.Tensor, batch: int) -> bool:
    """Whether a forward pass and an input gradient for `batch` copies of `example` fit in memory."""
    x = loss = None
    try:
        x = example[:1].expand(batch, *example.shape[1:]).clone().requires_grad_(True)
        with torch.enable_grad():
            loss = model(x).float().logsumexp(1).sum()
            torch.autograd.grad(loss, x)
        return True
    except RuntimeError as err:  # OutOfMemoryError is a RuntimeError too
        if is_out_of_memory(err):
            return False
        raise
    finally:
        x = loss = None  # free the probe before the next try or the real work
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def batch_size_for(model: torch.nn.Module, example: torch.Tensor, chunk_size: int) -> int:
    """On a GPU, the largest halving of the chunk for which TWICE the batch passes the probe: the
    probe is one PGD step, and AutoAttack's attacks (APGD-T's targets, FAB's per-class gradients)
    and the allocator's fragmentation over a long run need more than that."""
    if example.device.type != "cuda":
        return min(CPU_BATCH, chunk_size)
    return largest_batch(lambda b: attack_step_fits(model, example, 2 * b), chunk_size)
