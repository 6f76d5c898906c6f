"""The capturable training step (`--step-mode static`, and `graph`'s body: training/cuda_graph.py; docs/training.md).

A CUDA graph replays the kernels it recorded, on the memory it recorded them with, without Python: so every tensor
that outlives a step keeps one address, nothing is read back to the host, and what changes between steps comes from
device memory. The eager step (training/methods.py) must not change: earlier runs retrain to their recorded weights
from it. SGD's momentum buffers exist from the start (zeros: momentum * 0 + g is the eager first step's clone of g),
in the optimizer's own state, so checkpoints are the eager run's format. A method with a step of its own
(training.methods.STEPS) gives its capturable body in BODIES, written with the helpers of StaticStep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from sam_bench.attacks.pgd import at_least_fp32
from sam_bench.errors import BadInput
from sam_bench.training import method_table as table
from sam_bench.training.methods import STEPS, adversarial_examples, attack_start, single_step_examples
from sam_bench.training.optim import SAM, bn_stats_frozen

# body(step, x, y) -> (loss, logits): the capturable step of a method whose eager step is its own
BODIES: dict[str, Callable] = {}


def step_generator(seed: int, device: torch.device) -> torch.Generator:
    """The run's own generator for its attacks' random starts. Seeded from a hash of the seed, so that
    its stream is none of those the seed already starts (the initialisation's, the data order's)."""
    digest = hashlib.sha256(f"sam-bench step draws {seed}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


@torch.no_grad()
def sgd_update(params: list, grads: list, buffers: list | None, weight_decay: float, momentum: float, lr) -> None:
    """torch.optim.SGD's update (weight decay, momentum; no nesterov or dampening) in place, `lr` a device
    tensor; a parameter whose gradient is None is left alone, as SGD leaves it."""
    live = [i for i, gi in enumerate(grads) if gi is not None]
    p, g = [params[i] for i in live], [grads[i] for i in live]
    if not p:
        return
    if weight_decay != 0:
        g = list(torch._foreach_add(g, p, alpha=weight_decay))
    if buffers is not None:
        b = [buffers[i] for i in live]
        torch._foreach_mul_(b, momentum)
        torch._foreach_add_(b, g)
        g = b
    torch._foreach_sub_(p, torch._foreach_mul(g, lr))


def capturable(method: str) -> bool:
    """A static step exists for the method: a composition of the table, or a body of its own here."""
    return method in BODIES or method not in STEPS


class StaticStep:
    """One method's training step over state allocated once; `step(x, y, lr)` -> (loss, logits). `load` (the batch
    and the learning rate in) and `run` (the step on those buffers) are apart: training/cuda_graph.py captures `run`."""

    def __init__(self, method: str, model, optimizer, attack: dict | None, generator: torch.Generator, autocast=None):
        if not capturable(method):
            raise BadInput(f"{method} has a step of its own and no capturable one; train it with --step-mode eager")
        self.method, self.record = method, table.method(method)
        self.model, self.attack, self.generator = model, attack, generator
        self.autocast = autocast or nullcontext
        self.body = BODIES.get(method, StaticStep.composed)
        self.sam = optimizer if isinstance(optimizer, SAM) else None
        base = optimizer.base_optimizer if self.sam is not None else optimizer
        if not isinstance(base, torch.optim.SGD):
            raise TypeError(f"the static step takes SGD or SAM over SGD, not {type(base).__name__}")
        self.base = base
        self.groups = []  # (group, its trainable parameters, their momentum buffers or None)
        for group in base.param_groups:
            if group.get("nesterov") or group.get("dampening") or group.get("maximize"):
                raise ValueError("the static step is SGD without nesterov, dampening or maximize, as train builds it")
            params = [p for p in group["params"] if p.requires_grad]
            buffers = None
            if group["momentum"] != 0:
                for p in params:  # a resumed run's buffers are kept: its checkpoint filled them
                    if base.state[p].get("momentum_buffer") is None:
                        base.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                buffers = [base.state[p]["momentum_buffer"] for p in params]
            self.groups.append((group, params, buffers))
        self.params = [p for _, params, _ in self.groups for p in params]
        first = self.params[0]
        self.lr = torch.zeros((), dtype=first.dtype, device=first.device)
        if self.sam is not None:  # w (to return to) and e (the ascent), per parameter, made once
            self.w = [torch.empty_like(p) for p in self.params]
            self.e = [torch.empty_like(p) for p in self.params]
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float):
        self.load(x, y, lr)
        return self.run()

    def load(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        """The batch into the input buffers (made at the first batch, again only if its shape changes)."""
        if self.x is None or self.x.shape != x.shape or self.y is None or self.y.shape != y.shape:
            self.x, self.y = torch.empty_like(x), torch.empty_like(y)
        self.x.copy_(x)
        self.y.copy_(y)
        self.lr.fill_(lr)
        for group, _, _ in self.groups:
            group["lr"] = lr  # what a checkpoint of the optimizer records, as the eager loop sets it

    def run(self):
        assert self.x is not None and self.y is not None, "load() a batch first"
        return self.body(self, self.x, self.y)

    # ------------------------------------------------------------------------------- the parts of a step
    def composed(self, x: torch.Tensor, y: torch.Tensor):
        """A method of the table as training.methods.train_step composes it: its attack, then SGD or SAM."""
        attack, method, model = self.attack, self.method, self.model
        if self.record.attack is not None:
            assert attack is not None, f"{method} trains on attacks and needs their settings"
            start = attack_start(method, x, attack, self.generator)
            if self.record.single_step is not None:
                x = single_step_examples(method, model, x, y, attack, self.autocast, start)
            else:
                x = adversarial_examples(model, x, y, attack, self.autocast, start)
        loss, logits = self.loss(x, y)
        grads = self.gradients(loss)
        if self.sam is not None:
            self.sam_ascend(grads)
            with bn_stats_frozen(model):  # only the first pass updates BatchNorm statistics
                grads = self.gradients(self.loss(x, y)[0])
            self.sam_return()
        self.descend(grads)
        return loss.detach(), logits.detach()

    def loss(self, x: torch.Tensor, y: torch.Tensor):
        with self.autocast():
            logits = self.model(x)
            return F.cross_entropy(at_least_fp32(logits), y), logits

    def gradients(self, loss: torch.Tensor) -> list:
        """d loss / d parameter, None for a parameter the loss does not reach (the eager step skips those)."""
        return list(torch.autograd.grad(loss, self.params, allow_unused=True))

    def _by_group(self, values: list):
        i = 0
        for group, params, buffers in self.groups:
            yield group, params, buffers, values[i : i + len(params)]
            i += len(params)

    @torch.no_grad()
    def descend(self, grads: list) -> None:
        """torch.optim.SGD's step (weight decay, momentum) with the learning rate read on the device."""
        for group, params, buffers, g in self._by_group(grads):
            sgd_update(params, g, buffers, group["weight_decay"], group["momentum"], self.lr)

    @torch.no_grad()
    def sam_ascend(self, grads: list) -> None:
        """SAM's first step (optim/sam.py, the same arithmetic) into the buffers w and e."""
        # w itself, not (w + e) - e: rounding must not move w. Every parameter is kept, so that
        # sam_return restores all (one the loss did not reach is not moved: it comes back as it was).
        torch._foreach_copy_(self.w, self.params)
        i = 0
        for group, params, _, g in self._by_group(grads):
            live = [j for j, gj in enumerate(g) if gj is not None]
            p, g = [params[j] for j in live], [g[j] for j in live]
            e = [self.e[i + j] for j in live]
            i += len(params)
            if not p:
                continue
            scaled = torch._foreach_mul(g, [q.abs() for q in p]) if group["adaptive"] else g
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(scaled)))  # on the device: no host read
            scale = group["rho"] / (norm + 1e-12)
            torch._foreach_copy_(e, torch._foreach_mul(scaled, [q.abs() for q in p]) if group["adaptive"] else g)
            torch._foreach_mul_(e, scale)
            torch._foreach_add_(p, e)

    @torch.no_grad()
    def sam_return(self) -> None:
        """Back to w before the descent (SAM's second step)."""
        torch._foreach_copy_(self.params, self.w)
