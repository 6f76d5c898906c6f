"""The data model (a few robust and many non-robust Gaussian features) and what a linear classifier scores on it,
in closed form (docs/theory.md). Weights are rows: a (k, d) array is k classifiers scored at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, norm

from sam_bench.analysis.theory.perturbations import as_rows, margin_drop, worst_input_perturbation


@dataclass(frozen=True)
class FeatureModel:
    robust_count: int
    robust_mean: float
    robust_std: float
    non_robust_count: int
    non_robust_mean: float
    non_robust_std: float

    @classmethod
    def from_spec(cls, data: dict) -> FeatureModel:
        r, n = data["robust"], data["non_robust"]
        return cls(r["count"], float(r["mean"]), float(r["std"]), n["count"], float(n["mean"]), float(n["std"]))

    @property
    def dim(self) -> int:
        return self.robust_count + self.non_robust_count

    @property
    def robust(self) -> slice:
        return slice(0, self.robust_count)

    @property
    def non_robust(self) -> slice:
        return slice(self.robust_count, self.dim)

    @property
    def mean(self) -> np.ndarray:
        return np.r_[np.full(self.robust_count, self.robust_mean), np.full(self.non_robust_count, self.non_robust_mean)]

    @property
    def std(self) -> np.ndarray:
        return np.r_[np.full(self.robust_count, self.robust_std), np.full(self.non_robust_count, self.non_robust_std)]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n examples: inputs (n, d) and labels (n,) of +-1."""
        y = rng.choice(np.array([-1.0, 1.0]), size=n)
        x = y[:, None] * self.mean + rng.standard_normal((n, self.dim)) * self.std
        return x, y

    def bayes_accuracy(self) -> float:
        """The best any classifier can do on clean data: the linear one with w = mean / std^2."""
        return float(norm.cdf(np.linalg.norm(self.mean / self.std)))

    def group_accuracy(self, group: str) -> float:
        """The best clean accuracy from the robust (or non-robust) features alone."""
        part = getattr(self, group)
        return float(norm.cdf(np.linalg.norm((self.mean / self.std)[part])))


def accuracy(w, model: FeatureModel, attack: dict | None = None) -> np.ndarray:
    """Exact clean accuracy, or robust accuracy under attack {norm, eps}: P(margin - drop > 0)."""
    w = as_rows(w)
    mean_margin = w @ model.mean
    spread = np.linalg.norm(w * model.std, axis=1)
    drop = 0.0 if attack is None else margin_drop(w, attack["norm"], attack["eps"])
    return norm.cdf((mean_margin - drop) / spread)


def non_robust_reliance(w, model: FeatureModel) -> np.ndarray:
    """The share of the mean margin that the non-robust features provide (0: none, 1: all of it)."""
    w = as_rows(w)
    part = model.non_robust
    return (w[:, part] @ model.mean[part]) / (w @ model.mean)


def weight_shares(w, model: FeatureModel) -> dict[str, np.ndarray]:
    """||w|| on each group over ||w||: where the classifier puts its weight (squares sum to 1)."""
    w = as_rows(w)
    total = np.linalg.norm(w, axis=1)
    return {
        "robust": np.linalg.norm(w[:, model.robust], axis=1) / total,
        "non_robust": np.linalg.norm(w[:, model.non_robust], axis=1) / total,
    }


def monte_carlo_accuracy(w, x: np.ndarray, y: np.ndarray, attack: dict | None = None) -> list[dict]:
    """Accuracy counted on a sample, each example moved by its worst perturbation, with the 95% Wilson
    interval: a check of `accuracy` that perturbs inputs instead of using the normal CDF."""
    out = []
    for row in as_rows(w):
        moved = x if attack is None else x + worst_input_perturbation(row, y, attack["norm"], attack["eps"])
        correct = int((y * (moved @ row) > 0).sum())
        interval = binomtest(correct, len(y)).proportion_ci(0.95, method="wilson")
        out.append({"accuracy": correct / len(y), "low": float(interval.low), "high": float(interval.high)})
    return out
