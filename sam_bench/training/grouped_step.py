"""Several seeds of one method as one network (`--step-mode grouped`; docs/training.md): every parameter and
BatchNorm buffer held once as N slices, the architecture called on each model's slice under torch.func.vmap. The
grouped step is N static steps (training/static_step.py) up to the order of floating-point sums, not bit-identical.

The stacked tensors keep the models' memory layout: under vmap channels_last sends the global average pool to
torch's per-model fallback (it warns once), but stacking in NCHW made the whole step much slower on this
project's CPU probe. They are the truth while the group trains; `sync()` writes them back into the models and
their optimizers before anything reads those, and `load()` takes them from the models again (after a resume).
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from sam_bench.attacks.pgd import at_least_fp32, project
from sam_bench.errors import BadInput
from sam_bench.training import method_table as table
from sam_bench.training.methods import STEPS, attack_start
from sam_bench.training.optim import SAM
from sam_bench.training.static_step import sgd_update


def groupable(method: str) -> bool:
    """The table's compositions (an attack or none, then SGD or SAM); a method with a step of its own
    (TRADES, AWP) trains alone."""
    return method not in STEPS


def _per_model(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


class GroupedStep:
    """N runs' steps as one: `step(xs, ys, lr)` with xs [N, B, ...] and ys [N, B] -> (losses [N], logits
    [N, B, classes]), each model's as its static step would return them."""

    def __init__(self, method: str, models: list, optimizers: list, attacks: list, generators: list, autocast=None):
        if not groupable(method):
            raise BadInput(f"{method} has a step of its own; it cannot train grouped: use --step-mode eager or static")
        if not models or not len(models) == len(optimizers) == len(attacks) == len(generators):
            raise ValueError("one optimizer, attack and generator per model")
        self.method, self.record, self.n = method, table.method(method), len(models)
        self.models, self.generators = models, generators
        self.autocast = autocast or nullcontext
        self.sam = [o for o in optimizers if isinstance(o, SAM)]
        bases = [o.base_optimizer if isinstance(o, SAM) else o for o in optimizers]
        self.bases = bases
        self.hyper = self._shared_hyper_parameters(optimizers, bases)
        self.attack = self._stacked_attacks(attacks)
        # The architecture, called with each model's slice (its own tensors are never used)
        self.network = copy.deepcopy(models[0]).train()
        self.names = [name for name, p in models[0].named_parameters() if p.requires_grad]
        self.buffer_names = [name for name, _ in models[0].named_buffers()]
        self.load()

    # --------------------------------------------------------------------------------- set-up and state
    def _shared_hyper_parameters(self, optimizers: list, bases: list) -> dict:
        if len(self.sam) not in (0, self.n):
            raise ValueError("a group trains one method: SAM for all of its models or for none")
        groups = []
        for base in bases:
            if not isinstance(base, torch.optim.SGD) or len(base.param_groups) != 1:
                raise TypeError(
                    "the grouped step takes SGD (or SAM over SGD) with one parameter group, as train builds it"
                )
            group = base.param_groups[0]
            if group.get("nesterov") or group.get("dampening") or group.get("maximize"):
                raise ValueError("the grouped step is SGD without nesterov, dampening or maximize, as train builds it")
            groups.append(group)
        shared = {key: groups[0][key] for key in ("momentum", "weight_decay")}
        for group in groups:
            if any(group[key] != value for key, value in shared.items()):
                raise BadInput("the models of a group differ in momentum or weight decay; one group trains one recipe")
        if self.sam:
            shared["rho"] = [o.param_groups[0]["rho"] for o in optimizers]
            adaptive = {bool(o.param_groups[0]["adaptive"]) for o in optimizers}
            if len(adaptive) != 1:
                raise BadInput("a group trains one method: SAM or ASAM, not both")
            shared["adaptive"] = adaptive.pop()
        return shared

    def _stacked_attacks(self, attacks: list) -> dict | None:
        if self.record.attack is None:
            return None
        if any(a is None for a in attacks):
            raise ValueError(f"{self.method} trains on attacks and needs their settings for every model")
        for key in ("norm", "steps"):
            if len({a[key] for a in attacks}) != 1:
                raise BadInput(f"the models of a group differ in their attack's {key}; only its eps and step size may")
        if len({a["eps"] > 0 for a in attacks}) != 1:
            raise BadInput("a group's models all attack (eps > 0) or none does")
        attack = dict(norm=attacks[0]["norm"], steps=attacks[0]["steps"])
        attack["eps"] = [a["eps"] for a in attacks]
        attack["step_size"] = [a["eps"] / 4 if a.get("step_size") is None else a["step_size"] for a in attacks]
        attack["each"] = attacks
        return attack

    def load(self) -> None:
        """The stacked tensors from the models and their optimizers (at the start, and after a resume)."""
        with torch.no_grad():
            params = [dict(m.named_parameters()) for m in self.models]
            self.params = [torch.stack([p[name].detach() for p in params]).requires_grad_(True) for name in self.names]
            buffers = [dict(m.named_buffers()) for m in self.models]
            self.buffers = {name: torch.stack([b[name].detach() for b in buffers]) for name in self.buffer_names}
            self.momentum = None
            if self.hyper["momentum"] != 0:
                self.momentum = []
                for name in self.names:
                    slices = []
                    for p, base in zip(params, self.bases, strict=True):
                        kept = base.state[p[name]].get("momentum_buffer")  # a resumed run's, else zeros
                        slices.append(torch.zeros_like(p[name]) if kept is None else kept.detach())
                    self.momentum.append(torch.stack(slices))
            like = self.params[0]
            self.lr = torch.zeros((), dtype=like.dtype, device=like.device)
            if self.sam:
                self.rho = _per_model(self.hyper["rho"], like)
                self.w = [torch.empty_like(p) for p in self.params]
            if self.attack is not None:
                self.eps = _per_model(self.attack["eps"], like)
                self.step_size = _per_model(self.attack["step_size"], like)

    @torch.no_grad()
    def sync(self) -> None:
        """The stacked tensors back into the N models and their optimizers' state."""
        for i, (model, base) in enumerate(zip(self.models, self.bases, strict=True)):
            params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
            for k, name in enumerate(self.names):
                params[name].copy_(self.params[k][i])
                if self.momentum is not None:
                    state = base.state[params[name]]
                    if state.get("momentum_buffer") is None:
                        state["momentum_buffer"] = torch.empty_like(params[name])
                    state["momentum_buffer"].copy_(self.momentum[k][i])
            for name in self.buffer_names:
                buffers[name].copy_(self.buffers[name][i])
            base.param_groups[0]["lr"] = float(self.lr)  # what a checkpoint of the optimizer records

    # --------------------------------------------------------------------------------------- the step
    def __call__(self, xs: torch.Tensor, ys: torch.Tensor, lr: float):
        if xs.shape[0] != self.n or ys.shape[0] != self.n:
            raise ValueError(f"a grouped step takes one batch per model: {self.n}, got {xs.shape[0]}")
        self.lr.fill_(lr)
        x, y = xs.detach(), ys
        if self.attack is not None:
            starts = [
                attack_start(self.method, x[i], each, g)
                for i, (each, g) in enumerate(zip(self.attack["each"], self.generators, strict=True))
            ]
            start = None if starts[0] is None else torch.stack(starts)
            x = self._single_step(x, y, start) if self.record.single_step is not None else self._pgd(x, y, start)
        losses, logits = self._losses(x, y, self.buffers)  # the pass that moves BatchNorm's statistics
        grads = self._gradients(losses)
        if self.sam:
            self._sam_ascend(grads)
            grads = self._gradients(self._losses(x, y, self._frozen())[0])  # statistics untouched
            with torch.no_grad():
                torch._foreach_copy_(self.params, self.w)
        # torch.optim.SGD's step, the static step's arithmetic, on every model's slice at once
        sgd_update(self.params, grads, self.momentum, self.hyper["weight_decay"], self.hyper["momentum"], self.lr)
        return losses.detach(), logits.detach()

    def _frozen(self) -> dict:
        """Copies of the BatchNorm buffers for a pass that must leave them alone (bn_stats_frozen's rule)."""
        return {name: b.clone() for name, b in self.buffers.items()}

    def _logits(self, x: torch.Tensor, buffers: dict) -> torch.Tensor:
        params = dict(zip(self.names, self.params, strict=True))

        def one(p, b, xi):
            return functional_call(self.network, (p, b), (xi,))

        with self.autocast():
            return vmap(one)(params, buffers, x)

    def _losses(self, x: torch.Tensor, y: torch.Tensor, buffers: dict):
        """Each model's mean cross-entropy on its batch ([N]) and its logits."""
        logits = self._logits(x, buffers)
        flat = F.cross_entropy(at_least_fp32(logits.flatten(0, 1)), y.flatten(), reduction="none")
        return flat.view(self.n, -1).mean(1), logits

    def _gradients(self, losses: torch.Tensor) -> list:
        """Each model's gradient in its slice: the models share no parameter, so the sum's gradient is theirs."""
        return list(torch.autograd.grad(losses.sum(), self.params, allow_unused=True))

    def _input_gradient(self, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        delta.requires_grad_(True)
        with torch.enable_grad():
            losses, _ = self._losses(x + delta, y, self._frozen())
            (grad,) = torch.autograd.grad(losses.sum(), delta)
        return grad

    def _budget(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A per-model value shaped to broadcast over its batch [N, B, ...]."""
        return values.view(self.n, *([1] * (x.dim() - 1)))

    def _pgd(self, x, y, start):
        """attacks.pgd's steps (random start, one restart), each model in its own ball."""
        attack = self.attack
        assert attack is not None
        if start is None:  # eps 0 or no steps: pgd returns the images
            return x.clone()
        flat = x.flatten(0, 1)
        eps = self.eps.repeat_interleave(x.shape[1]).view(-1, *([1] * (flat.dim() - 1)))
        step_size = self.step_size.repeat_interleave(x.shape[1]).view_as(eps)
        delta = project(start.flatten(0, 1), flat, eps, attack["norm"])  # eps per image
        for _ in range(attack["steps"]):
            grad = self._input_gradient(x, y, delta.view_as(x)).flatten(0, 1)
            with torch.no_grad():
                if attack["norm"] == "Linf":
                    step = step_size * grad.sign()
                else:
                    norms = grad.flatten(1).norm(dim=1).view_as(eps)
                    step = step_size * grad / (norms + 1e-12)
                delta = project(delta.detach() + step, flat, eps, attack["norm"])
        return (flat + delta).detach().view_as(x)

    def _single_step(self, x, y, start):
        """methods.single_step_examples, each model with its own eps and step."""
        rule = self.record.single_step
        assert rule is not None
        delta = torch.zeros_like(x) if start is None else (x + start).clamp(0, 1) - x
        grad = self._input_gradient(x, y, delta)
        with torch.no_grad():
            delta = delta.detach() + self._budget(self.step_size, x) * grad.sign()
            if rule.projected:
                eps = self._budget(self.eps, x)
                delta = torch.maximum(torch.minimum(delta, eps), -eps)
            return (x + delta).clamp(0, 1)

    @torch.no_grad()
    def _sam_ascend(self, grads: list) -> None:
        """SAM's (or ASAM's) first step, each model scaled to its own rho by its own gradient's norm."""
        torch._foreach_copy_(self.w, self.params)
        live = [k for k, g in enumerate(grads) if g is not None]
        p, g = [self.params[k] for k in live], [grads[k] for k in live]
        if not p:
            return
        adaptive = self.hyper["adaptive"]
        scaled = torch._foreach_mul(g, [q.abs() for q in p]) if adaptive else g
        norms = torch.stack([s.flatten(1).norm(dim=1) for s in scaled])  # [parameters, N]
        scale = self.rho / (torch.linalg.vector_norm(norms, dim=0) + 1e-12)
        e = torch._foreach_mul(scaled, [q.abs() for q in p]) if adaptive else [t.clone() for t in g]
        torch._foreach_mul_(e, [scale.view(-1, *([1] * (t.dim() - 1))) for t in e])
        torch._foreach_add_(p, e)
