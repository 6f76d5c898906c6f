"""The capturable step (training/static_step.py) as a CUDA graph: `--step-mode graph` (docs/training.md).

At batch 128 a GPU waits for the host: an eager SAM step launches some 600 kernels; a graph launches them all at
once. The first WARMUP steps run on a side stream (the graph docs ask warm-up off the default stream); the next
call captures and replays. Every step, warm-up ones included, is a real training step. The device calls are one
small backend, so that this order is tested on a CPU with one that records it (tests/test_static_step.py).
"""

from __future__ import annotations

import torch

from sam_bench.errors import SamBenchError

WARMUP = 3


class CudaBackend:
    def __init__(self, device: torch.device):
        self.device = device
        self.side = torch.cuda.Stream(device)

    def warm(self, fn):
        self.side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.side):
            out = fn()
        torch.cuda.current_stream(self.device).wait_stream(self.side)
        return out

    def capture(self, fn, generator: torch.Generator):
        graph = torch.cuda.CUDAGraph()
        register = getattr(graph, "register_generator_state", None)
        if register is None:  # before torch 2.4 a graph could draw from the default generator only
            raise SamBenchError(
                f"torch {torch.__version__} cannot capture a run's own random generator in a CUDA graph; "
                "use --step-mode static"
            )
        register(generator)
        with torch.cuda.graph(graph):
            out = fn()
        return graph, out

    def replay(self, graph) -> None:
        graph.replay()


class GraphedStep:
    """`step(x, y, lr)` -> (loss, logits), the static step replayed as a CUDA graph. The returned
    tensors are the graph's outputs: read them before the next step (the epoch loop sums them at once)."""

    def __init__(self, static, backend=None):
        self.static = static
        self.backend = backend if backend is not None else CudaBackend(static.lr.device)
        self.warmed = 0
        self.graph = None
        self.out = None
        self.shape: tuple | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float):
        if self.shape is not None and (tuple(x.shape), tuple(y.shape)) != self.shape:
            # A graph replays the shapes it recorded; training batches are all of one size (DeviceLoader)
            raise SamBenchError(
                f"a CUDA graph of batches {self.shape[0]} cannot take a batch {tuple(x.shape)}; use --step-mode static"
            )
        self.static.load(x, y, lr)
        if self.graph is None and self.warmed < WARMUP:
            self.warmed += 1
            return self.backend.warm(self.static.run)
        if self.graph is None:
            self.graph, self.out = self.backend.capture(self.static.run, self.static.generator)
            self.shape = (tuple(x.shape), tuple(y.shape))
        self.backend.replay(self.graph)
        return self.out
