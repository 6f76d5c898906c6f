"""The committed verdicts recomputed from the bitsets by another route: the crossed
seeds x images model fitted by maximising its REML likelihood numerically (scipy), not by the closed form
with pooling that `mixed_model` uses, on cpu-decisive's ST and SAM-0.1 outcomes (5 seeds each)."""

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import t

from sam_bench.evaluation import outcomes
from sam_bench.report.claims import verdicts
from sam_bench.report.folder import load_results
from sam_bench.report.records import models

FOLDER = Path(__file__).resolve().parents[1] / "reproductions" / "paper-cifar10-cpu-decisive"


def reml(d: np.ndarray) -> tuple[float, float, float]:
    """(var(seed), var(image), var(residual)) maximising the REML likelihood of d[s, i] = m + a_s + b_i + e_si.
    The balanced layout's covariance has three eigen-strata besides the mean: seeds (S - 1 of them, eigenvalue
    N var(a) + var(e)), images (N - 1, S var(b) + var(e)) and the rest (var(e)); REML's log-likelihood is
    -1/2 sum over strata of (dimension log eigenvalue + sum of squares / eigenvalue)."""
    seeds, images = d.shape
    centred = d - d.mean()
    ss_seeds = images * float((centred.mean(axis=1) ** 2).sum())
    ss_images = seeds * float((centred.mean(axis=0) ** 2).sum())
    ss_rest = float((centred**2).sum()) - ss_seeds - ss_images
    strata = [(seeds - 1, ss_seeds), (images - 1, ss_images), ((seeds - 1) * (images - 1), ss_rest)]

    def minus_loglik(v):
        a, b, e = v
        eigen = (images * a + e, seeds * b + e, e)
        return 0.5 * sum(k * np.log(lam) + ss / lam for (k, ss), lam in zip(strata, eigen))

    start = [ss_seeds / (seeds - 1) / images, ss_images / (images - 1) / seeds, ss_rest / strata[2][0]]
    bounds = [(0.0, None), (0.0, None), (1e-12, None)]
    fit = minimize(minus_loglik, x0=np.maximum(start, 1e-6), bounds=bounds, method="L-BFGS-B", tol=1e-14)
    return tuple(float(x) for x in fit.x)


def differences(measure: tuple) -> np.ndarray:
    grouped = models(load_results(FOLDER))
    by_seed = {name: {r.seed: r for r in grouped[name]} for name in ("ST", "SAM-0.1")}
    rows = []
    for seed in sorted(by_seed["ST"]):
        sam, st = by_seed["SAM-0.1"][seed].evaluation(*measure), by_seed["ST"][seed].evaluation(*measure)
        rows.append(outcomes.decode(sam.outcomes).astype(float) - outcomes.decode(st.outcomes).astype(float))
    return np.array(rows)


@pytest.mark.parametrize("measure", [("clean",), ("pgd", "Linf", "2/255")], ids=["clean", "pgd-linf-2"])
def test_the_standard_error_is_the_numerical_reml_fits(measure):
    from sam_bench.stats import mixed_model

    d = differences(measure)
    seed_var, image_var, residual_var = reml(d)
    seeds, images = d.shape
    independent_se = np.sqrt(seed_var / seeds + image_var / images + residual_var / (seeds * images))
    ours = mixed_model.seeds_and_images(d)
    assert not ours.conservative
    assert ours.standard_error == pytest.approx(independent_se, rel=1e-4)
    assert ours.seed_sd**2 == pytest.approx(seed_var, rel=1e-3, abs=1e-9)


def test_c1_for_sam_01_is_the_verdict_the_bitsets_give():
    """SAM-0.1's clean accuracy against ST's with the 1-point margin: the numerical fit's standard error and
    our degrees of freedom give the report's p for 'significantly more than 1 point below' (0.035, as an
    independent mixed-model fit also gives) and so its verdict."""
    d = differences(("clean",))
    seeds, images = d.shape
    seed_var, image_var, residual_var = reml(d)
    se = np.sqrt(seed_var / seeds + image_var / images + residual_var / (seeds * images))
    from sam_bench.stats import mixed_model

    df = mixed_model.seeds_and_images(d).df
    p_below_margin = float(t.cdf((d.mean() + 0.01) / se, df))
    c1 = next(v for v in verdicts(load_results(FOLDER)) if v["claim"] == "C1" and v["configuration"] == "SAM-0.1")
    assert round(p_below_margin, 3) == 0.035
    assert c1["verdict"] == "fails" and "(p = 0.035)" in c1["reason"]
