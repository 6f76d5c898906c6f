"""The paper's explanation, runnable: a linear model of robust and non-robust features (Tsipras et al.
2019, Ilyas et al. 2019) trained by ST, SAM and AT, with the inner maximisations in closed form.

    from sam_bench.analysis.theory import run
    results, paths = run("my-spec.yaml", out="reproductions/theory-linear")   # or run() for the defaults

One concept per module: spec (parameters), features (data model, exact accuracies), perturbations
(closed-form inner maximisations), training (ST/SAM/AT by SGD), correspondence (rho <-> eps),
statements (the paper's claims judged), simulate (the run), report (JSON, plots, REPORT.md).
See docs/theory.md.
"""

from sam_bench.analysis.theory.simulate import run, simulate
from sam_bench.analysis.theory.spec import load_spec

__all__ = ["load_spec", "run", "simulate"]
