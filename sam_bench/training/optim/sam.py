"""Sharpness-Aware Minimization (Foret et al. 2021) and ASAM (Kwon et al. 2021) as one optimizer.

    loss(w).backward(); opt.first_step()      # w <- w + e(w),  e = rho * T^2 g / ||T g||
    loss(w + e).backward(); opt.second_step()  # w <- base_step(w, grad at w + e)

T is the identity for SAM and |w| elementwise for ASAM (`adaptive=True`). Unlike davda54/sam,
`state_dict` is the base optimizer's (so SGD momentum survives a checkpoint), and
`bn_stats_frozen` keeps the second pass from updating BatchNorm running statistics.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class SAM(torch.optim.Optimizer):
    def __init__(
        self, params, base_optimizer_cls=torch.optim.SGD, rho: float = 0.05, adaptive: bool = False, **base_kwargs
    ):
        if not rho >= 0:
            raise ValueError(f"rho must be >= 0, got {rho}")
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **base_kwargs))
        self.base_optimizer = base_optimizer_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups  # one set of groups: schedulers see both

    @torch.no_grad()
    def first_step(self, zero_grad: bool = True) -> None:
        """Move every parameter to the worst nearby point w + e(w); remember w to return to it."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            scaled = torch._foreach_mul(grads, [p.abs() for p in params]) if group["adaptive"] else grads
            # One norm over the whole group, kept on the device: no host synchronisation.
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(scaled)))
            scale = group["rho"] / (norm + 1e-12)
            e = (
                torch._foreach_mul(scaled, [p.abs() for p in params])
                if group["adaptive"]
                else [g.clone() for g in grads]
            )
            torch._foreach_mul_(e, scale)
            for p in params:  # w itself, not (w + e) - e: rounding must not move w
                self.state[p]["w"] = p.clone()
            torch._foreach_add_(params, e)
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = True) -> None:
        """Return to w and take the base optimizer's step with the gradient found at w + e."""
        for group in self.param_groups:
            for p in group["params"]:
                w = self.state[p].pop("w", None)
                if w is not None:
                    p.copy_(w)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(self, closure=None):
        """Both steps; `closure` must do a full forward-backward pass and return the loss."""
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and its gradient")
        self.first_step(zero_grad=True)
        with torch.enable_grad():
            closure()
        self.second_step()

    def state_dict(self):
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict):
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups


@contextmanager
def bn_stats_frozen(model: torch.nn.Module):
    """Forward passes inside use batch statistics as usual but leave the running statistics alone.

    For SAM's second pass and for attack steps during training: only the real training forward
    pass should move BatchNorm's running mean and variance."""
    saved = []
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            saved.append((m, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()))
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                assert m.num_batches_tracked is not None  # saved as a clone of it above
                m.num_batches_tracked.copy_(tracked)
