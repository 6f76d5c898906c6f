import pytest
import torch
import torch.nn as nn

from sam_bench.errors import BadInput
from sam_bench.evaluation.batching import (
    CPU_BATCH,
    CPU_CHUNK,
    attack_step_fits,
    batch_size_for,
    check_size,
    chunk_size_for,
    largest_batch,
)
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.specs import make_attacks


class RunsOutOfMemory(nn.Module):
    """Behaves like a model on a GPU with room for `room` images: more raise CUDA's OOM error."""

    def __init__(self, room: int):
        super().__init__()
        self.room, self.linear, self.tried = room, nn.Linear(3 * 32 * 32, 10), []

    def forward(self, x):
        self.tried.append(len(x))
        if len(x) > self.room:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.linear(x.flatten(1))


def test_the_largest_halving_that_fits():
    model = RunsOutOfMemory(room=100)
    example = torch.rand(4, 3, 32, 32)
    assert largest_batch(lambda b: attack_step_fits(model, example, b), 2000) == 62
    assert model.tried == [2000, 1000, 500, 250, 125, 62]
    assert largest_batch(lambda b: attack_step_fits(RunsOutOfMemory(0), example, b), 8) == 1  # never below 1
    assert largest_batch(lambda b: True, 500) == 500


class CudnnRunsOutOfWorkspace(RunsOutOfMemory):
    """cuDNN and cuBLAS report allocation failures as plain RuntimeErrors."""

    def __init__(self, room: int, message: str):
        super().__init__(room)
        self.message = message

    def forward(self, x):
        if len(x) > self.room:
            raise RuntimeError(self.message)
        return super().forward(x)


@pytest.mark.parametrize(
    "message",
    [
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    ],
)
def test_library_allocation_failures_count_as_out_of_memory(message):
    example = torch.rand(4, 3, 32, 32)
    assert largest_batch(lambda b: attack_step_fits(CudnnRunsOutOfWorkspace(100, message), example, b), 2000) == 62
    with pytest.raises(RuntimeError, match="shape mismatch"):  # any other error is a real one
        attack_step_fits(CudnnRunsOutOfWorkspace(0, "shape mismatch"), example, 8)


def test_gpu_batches_leave_headroom(monkeypatch):
    """A batch is chosen so that twice its size passed the probe."""
    model = RunsOutOfMemory(room=100)
    example = torch.rand(4, 3, 32, 32)
    monkeypatch.setattr(torch.Tensor, "device", property(lambda self: torch.device("cuda")))
    assert batch_size_for(model, example, 2000) == 31
    assert model.tried == [4000, 2000, 1000, 500, 250, 124, 62]


def test_the_probe_needs_an_input_gradient():
    frozen = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    for p in frozen.parameters():
        p.requires_grad_(False)  # as a loaded model's may be: the probe still gets dL/dx
    with torch.no_grad():  # and inside a caller's no_grad
        assert attack_step_fits(frozen, torch.rand(1, 3, 32, 32), 16)


def test_sizes_per_device():
    cuda = torch.device("cuda")
    assert chunk_size_for(torch.device("cpu"), 10_000) == CPU_CHUNK
    assert chunk_size_for(cuda, 10_000) == 2000
    assert chunk_size_for(cuda, 10_000, processes=8) == 1250  # every GPU gets a chunk
    assert chunk_size_for(cuda, 10) == 10
    assert batch_size_for(RunsOutOfMemory(0), torch.rand(1, 3, 32, 32), 500) == CPU_BATCH  # CPU: no probing
    assert batch_size_for(RunsOutOfMemory(0), torch.rand(1, 3, 32, 32), 100) == 100
    assert check_size("auto", "x") == "auto" and check_size(7, "x") == 7
    for bad in (0, -1, "8", 2.0, True):
        with pytest.raises(ValueError, match="positive integer or auto"):
            check_size(bad, "--batch-size")


def test_evaluate_records_the_sizes_it_used(tiny_net, sample):
    specs = make_attacks("pgd", "Linf", ["1/255"], steps=1)
    auto = evaluate(tiny_net, sample, specs, n_examples=40, progress=False)
    assert auto["evaluations"][0]["chunks"] == {"size": CPU_CHUNK, "count": 1, "resumed": 0, "batch_size": CPU_BATCH}
    given = evaluate(tiny_net, sample, specs, n_examples=40, batch_size=16, chunk_size=20, progress=False)
    assert given["evaluations"][0]["chunks"] == {"size": 20, "count": 2, "resumed": 0, "batch_size": 16}
    with pytest.raises(BadInput, match="--chunk-size must be a positive integer or auto"):
        evaluate(tiny_net, sample, specs, n_examples=40, chunk_size=0, progress=False)
