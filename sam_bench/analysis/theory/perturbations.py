"""The inner maximisations of AT (inputs) and SAM (weights) for a linear classifier, in closed form: the derivations
are in docs/theory.md."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

DUAL = {"Linf": 1, "L2": 2}  # the norm of w that an Linf (L2) ball of inputs costs in margin


def as_rows(w) -> np.ndarray:
    return np.atleast_2d(np.asarray(w, dtype=float))


def logistic_slope(margin):
    """d loss / d margin = -sigmoid(-margin): negative, so a lower margin always costs more."""
    return -expit(-margin)


def margin_drop(w, attack_norm: str, eps: float) -> np.ndarray:
    """By how much the worst input perturbation of size eps lowers every margin: eps ||w||_dual."""
    return eps * np.linalg.norm(as_rows(w), ord=DUAL[attack_norm], axis=1)


def margin_drop_gradient(w, attack_norm: str, eps: float) -> np.ndarray:
    """d margin_drop / d w, row by row: eps sign(w) for Linf, eps w / ||w||_2 for L2 (0 at w = 0)."""
    w = as_rows(w)
    if attack_norm == "Linf":
        return eps * np.sign(w)
    length = np.linalg.norm(w, axis=1, keepdims=True)
    return eps * np.divide(w, length, out=np.zeros_like(w), where=length > 0)


def worst_input_perturbation(w, y: np.ndarray, attack_norm: str, eps: float) -> np.ndarray:
    """The delta (n, d) that lowers each example's margin under the one classifier w (d,) the most."""
    w = np.asarray(w, dtype=float)
    direction = np.sign(w) if attack_norm == "Linf" else w / np.linalg.norm(w)
    return -eps * y[:, None] * direction


def sam_ascent(gradient, rho: float) -> np.ndarray:
    """SAM's weight perturbation from the loss gradient, row by row: rho g / ||g|| (0 where g = 0)."""
    g = as_rows(gradient)
    length = np.linalg.norm(g, axis=1, keepdims=True)
    return rho * np.divide(g, length, out=np.zeros_like(g), where=length > 0)


def equivalent_input_eps(margin_shift, w, attack_norm: str) -> np.ndarray:
    """The AT eps whose worst-case margin drop equals `margin_shift`: the size of input perturbation
    that does to the margins what a weight perturbation did (shift / ||w||_dual)."""
    return np.asarray(margin_shift) / np.linalg.norm(as_rows(w), ord=DUAL[attack_norm], axis=1)
