"""How sharp a trained model's training loss is around its weights, per batch of fixed training images, in eval
mode (a fixed function of the weights): SAM's L(w + e) - L(w) and the Hessian's top eigenvalue (docs/analysis.md)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp, vjp
from torch.nn.attention import SDPBackend, sdpa_kernel


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def loss_function(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """L(params): the mean cross-entropy on (x, y) as a function of the parameters alone."""
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def loss(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (params, buffers), (x,)), y)

    return loss


def _norm(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors.values()]))


def _add(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], scale: float | torch.Tensor = 1.0):
    return {k: a[k] + scale * b[k] for k in a}


def weight_norm(model: torch.nn.Module) -> float:
    """The L2 norm of all the model's parameters: the scale a SAM radius is measured against."""
    with torch.no_grad():
        return float(_norm(_params(model)))


def sam_sharpness(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, rho: float, steps: int) -> dict:
    """L(w + e) - L(w) for SAM's one ascent step and for `steps` projected ascent steps on the
    ball ||e|| <= rho (step 2.5 rho / steps, as PGD's; the best point visited is kept)."""
    if model.training:
        raise ValueError("sharpness is measured with the model in eval mode (BatchNorm's running statistics)")
    loss = loss_function(model, x, y)
    w = _params(model)
    gradient = grad(loss)
    with torch.no_grad():
        base = float(loss(w))
    g = gradient(w)
    one_step = float(loss(_add(w, g, rho / (float(_norm(g)) + 1e-12)))) - base
    e = {k: torch.zeros_like(v) for k, v in w.items()}
    best = 0.0
    step = 2.5 * rho / steps
    for _ in range(steps):
        g = gradient(_add(w, e))
        e = _add(e, g, step / (float(_norm(g)) + 1e-12))
        norm = float(_norm(e))
        if norm > rho:  # back onto the ball
            e = {k: v * (rho / norm) for k, v in e.items()}
        best = max(best, float(loss(_add(w, e))) - base)
    return {"loss": base, "sam_one_step": one_step, "sam_multi_step": max(best, one_step)}


def hvp_function(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """v -> H v, H the Hessian of the loss at the model's weights (both as dicts of tensors)."""
    loss = loss_function(model, x, y)
    w = _params(model)
    gradient = grad(loss)

    def forward_over_reverse(v):
        return jvp(gradient, (w,), (v,))[1]

    def reverse_over_reverse(v):  # H is symmetric: v^T H = (H v)^T
        return vjp(gradient, w)[1](v)[0]

    def hvp(v):
        nonlocal forward_over_reverse
        # Attention's fused CPU kernels have no second derivative; the plain-math one has.
        with sdpa_kernel(SDPBackend.MATH):
            try:
                return forward_over_reverse(v)
            except (NotImplementedError, RuntimeError):  # a layer without a forward-mode rule
                forward_over_reverse = reverse_over_reverse
                return reverse_over_reverse(v)

    return hvp, w


def top_eigenvalue(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    iterations: int = 20,
    tolerance: float = 1e-3,
    seed: int = 0,
) -> dict:
    """The Hessian's eigenvalue of largest magnitude by power iteration from a seeded random
    start; stops when the Rayleigh quotient changes by less than `tolerance` (relative)."""
    if model.training:
        raise ValueError("sharpness is measured with the model in eval mode (BatchNorm's running statistics)")
    hvp, w = hvp_function(model, x, y)
    generator = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(t.shape, generator=generator).to(t) for k, t in w.items()}
    start_norm = _norm(v)
    v = {k: t / start_norm for k, t in v.items()}
    eigenvalue, done, converged = 0.0, 0, False
    while done < iterations and not converged:
        done += 1
        hv = hvp(v)
        new = float(sum((v[k] * hv[k]).sum() for k in v))  # Rayleigh quotient, v of unit norm
        norm = float(_norm(hv))
        if norm == 0:
            return {"top_eigenvalue": 0.0, "iterations": done, "converged": True}
        v = {k: t / norm for k, t in hv.items()}
        converged = abs(new - eigenvalue) <= tolerance * abs(new)
        eigenvalue = new
    return {"top_eigenvalue": eigenvalue, "iterations": done, "converged": converged}


def batch_interval(values: list[float], confidence: float = 0.95) -> dict:
    """Mean over batches with its two-sided t interval (sd over batches / sqrt(batches))."""
    from scipy.stats import t

    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "batches": n}
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "batches": n}
