"""Linear classifiers trained by ST, SAM and AT on one sample, all at once: SGD with weight decay on the logistic
loss, every method on the same batches in the same order, a (k, d) array of the k classifiers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_bench.analysis.theory.perturbations import logistic_slope, margin_drop, margin_drop_gradient, sam_ascent


@dataclass(frozen=True)
class Method:
    kind: str  # "ST", "SAM" or "AT"
    strength: float = 0.0  # SAM's rho or AT's eps
    norm: str | None = None  # AT's threat model: "Linf" or "L2"

    @property
    def label(self) -> str:
        if self.kind == "ST":
            return "ST"
        if self.kind == "SAM":
            return f"SAM rho={self.strength:g}"
        return f"AT {self.norm} eps={self.strength:g}"

    def as_dict(self) -> dict:
        return {"method": self.kind, "norm": self.norm, "strength": self.strength, "label": self.label}


def method_grid(methods: dict) -> list[Method]:
    """ST, then SAM at every rho, then AT at every Linf and L2 eps."""
    return (
        [Method("ST")]
        + [Method("SAM", rho) for rho in methods["sam_rho"]]
        + [Method("AT", eps, "Linf") for eps in methods["at_linf_eps"]]
        + [Method("AT", eps, "L2") for eps in methods["at_l2_eps"]]
    )


def loss_gradient(w: np.ndarray, signed_x: np.ndarray, drop=None, drop_gradient=None) -> np.ndarray:
    """Gradient of the mean logistic loss of margins signed_x @ w - drop(w), one row per classifier.

    signed_x holds the examples as y x (n, d); drop (k,) lowers every margin of a classifier and
    drop_gradient (k, d) is its derivative: d/dw loss(m - drop) = loss'(m - drop) (y x - d drop/dw)."""
    margins = signed_x @ w.T
    if drop is not None:
        margins = margins - drop
    slope = logistic_slope(margins)  # (n, k)
    gradient = slope.T @ signed_x / len(signed_x)
    if drop_gradient is not None:
        gradient = gradient - slope.mean(axis=0)[:, None] * drop_gradient
    return gradient


def training_gradient(w: np.ndarray, signed_x: np.ndarray, methods: list[Method]) -> np.ndarray:
    """Each method's gradient on one batch, weight decay left to the base step:
    ST the loss's; AT the loss's at the worst inputs (Danskin: the closed-form maximiser, held fixed);
    SAM the loss's at w + rho g / ||g||, g the loss's gradient at w (weight decay not in the ascent, as
    in sam-bench's SAM optimizer and Foret et al.)."""
    drop, drop_gradient = np.zeros(len(methods)), np.zeros_like(w)
    for norm in ("Linf", "L2"):
        rows = [i for i, m in enumerate(methods) if m.kind == "AT" and m.norm == norm]
        if rows:
            eps = np.array([methods[i].strength for i in rows])
            drop[rows] = eps * margin_drop(w[rows], norm, 1.0)
            drop_gradient[rows] = eps[:, None] * margin_drop_gradient(w[rows], norm, 1.0)
    rho = np.array([m.strength if m.kind == "SAM" else 0.0 for m in methods])
    evaluated_at = w
    if rho.any():
        evaluated_at = w + rho[:, None] * sam_ascent(loss_gradient(w, signed_x), 1.0)
    return loss_gradient(evaluated_at, signed_x, drop, drop_gradient)


def learning_rate(step: int, total: int, training: dict) -> float:
    if training["schedule"] == "piecewise":  # the paper's: x0.1 at 75% and x0.01 at 90% of training
        return training["lr"] * (1.0 if step < 0.75 * total else 0.1 if step < 0.9 * total else 0.01)
    return training["lr"]


def batches(n: int, training: dict, rng: np.random.Generator):
    """Index arrays of the SGD steps: a fresh permutation every epoch, the last partial batch dropped."""
    size = training["batch_size"]
    for _ in range(training["epochs"]):
        order = rng.permutation(n)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]


def train(
    methods: list[Method], x: np.ndarray, y: np.ndarray, training: dict, rng: np.random.Generator, on_epoch=None
) -> np.ndarray:
    """The weights (len(methods), d) that SGD reaches from zero; on_epoch() after every epoch."""
    signed_x = y[:, None] * x
    w = np.zeros((len(methods), x.shape[1]))
    steps_per_epoch = len(x) // training["batch_size"]
    total = steps_per_epoch * training["epochs"]
    for step, index in enumerate(batches(len(x), training, rng)):
        gradient = training_gradient(w, signed_x[index], methods) + training["weight_decay"] * w
        w -= learning_rate(step, total, training) * gradient
        if on_epoch is not None and (step + 1) % steps_per_epoch == 0:
            on_epoch()
    return w
