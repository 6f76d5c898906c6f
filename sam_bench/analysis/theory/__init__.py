"""The paper's explanation, runnable: a linear model of robust and non-robust features (Tsipras et al.
2019, Ilyas et al. 2019) trained by ST, SAM and AT, with the inner maximisations in closed form.

    from sam_bench.analysis.theory import run
    results, paths = run("my-spec.yaml", out="reproductions/theory-linear")   # or run() for the defaults

One concept per module (README.md); see docs/theory.md.
"""

from sam_bench.analysis.theory.simulate import run, simulate
from sam_bench.analysis.theory.spec import load_spec

__all__ = ["load_spec", "run", "simulate"]
