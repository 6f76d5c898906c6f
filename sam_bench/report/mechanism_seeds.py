"""The Mechanism section's predictions tested over training seeds: a statement about training methods.

`mechanism.predictions` compares two trained models, which says whether *these models* differ; whether SAM *as
a method* makes flatter models is a question about the spread between seeds. Here each analysed model gives one
number per measure, and two configurations are compared over their seeds by Welch's t test (the seeds of two
methods are independent replicates), one-sided in the predicted direction. A configuration needs two seeds.
"""

from __future__ import annotations

import numpy as np

from sam_bench.report.comparison import p_text, table_head
from sam_bench.report.records import architecture, by_architecture
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference
from sam_bench.training import method_table

MIN_SEEDS = 2


def high_pass_entry(a: dict, cutoff: float | None) -> dict | None:
    """An analysis record's accuracy on high-pass filtered images at `cutoff` (with its outcomes), or None."""
    if cutoff is None or "frequency" not in a:
        return None
    return next((e for e in a["frequency"]["high_pass"] if e["cutoff"] == cutoff), None)


def per_model(a: dict, cutoff: float | None) -> dict[str, float]:
    """One analysed model's numbers: the means the per-model tables show."""
    found: dict[str, float] = {}
    if "sharpness" in a:
        summary = a["sharpness"]["summary"]
        found["top_eigenvalue"] = float(summary["top_eigenvalue"]["mean"])
        found["sam_one_step"] = float(summary["sam_one_step"]["mean"])
    if (high := high_pass_entry(a, cutoff)) is not None:
        found["high_pass"] = float(high["acc"])
    if "gradients" in a:
        found["alignment"] = float(a["gradients"]["alignment"]["mean"])
    return found


# (measure, what the explanation predicts of SAM against the other method, the direction of SAM - other)
AGAINST_ST = (
    ("top_eigenvalue", "flatter than ST (top Hessian eigenvalue)", "less"),
    ("sam_one_step", "flatter than ST (SAM sharpness)", "less"),
    ("high_pass", "less high-frequency reliance than ST ({high_pass})", "less"),
    ("alignment", "input gradients more aligned with the image than ST's", "greater"),
)
AGAINST_AT = (
    ("high_pass", "more high-frequency reliance than AT ({high_pass})", "greater"),
    ("alignment", "input gradients less aligned with the image than AT's", "less"),
)


def verdict(p_predicted: float, p_other: float) -> str:
    """`holds` when significant in the predicted direction, `fails` when significant the other way."""
    if p_predicted < inference.ALPHA:
        return "holds"
    return "fails" if p_other < inference.ALPHA else "inconclusive"


def opposite(predicted: inference.Alternative) -> inference.Alternative:
    return "greater" if predicted == "less" else "less"


def welch(first: list[float], second: list[float], predicted: inference.Alternative) -> dict:
    """mean(first) - mean(second) over independent seeds: Welch's 95% interval and one-sided p values."""
    from scipy.stats import ttest_ind

    p = float(ttest_ind(first, second, equal_var=False, alternative=predicted).pvalue)
    q = float(ttest_ind(first, second, equal_var=False, alternative=opposite(predicted)).pvalue)
    low, high = ttest_ind(first, second, equal_var=False).confidence_interval(1 - inference.ALPHA)
    difference = float(np.mean(first) - np.mean(second))
    found = {"difference": difference, "low": float(low), "high": float(high), "p": p, "verdict": verdict(p, q)}
    return {**found, "seeds": (len(first), len(second))}


def predictions(pairs: list[tuple[RunRecord, dict]], cutoff: float | None) -> list[dict]:
    """Each SAM configuration against ST's and AT's, per architecture, where both have MIN_SEEDS analysed seeds."""
    high_pass = "" if cutoff is None else f"accuracy on high-pass r > {cutoff:g}"
    tests: list[dict] = []
    for arch in by_architecture([r for r, _ in pairs]):
        configurations: dict[str, dict] = {}
        for r, a in pairs:
            if architecture(r) != arch:
                continue
            found = configurations.setdefault(r.name, {"method": r.method, "seeds": {}})
            found["seeds"].setdefault(r.seed, per_model(a, cutoff))  # one model per seed
        methods = {name: c["method"] for name, c in configurations.items()}
        for sam in (n for n, m in methods.items() if method_table.is_sam_family(m)):
            for other, against in [(n, AGAINST_ST) for n, m in methods.items() if m == method_table.STANDARD] + [
                (n, AGAINST_AT) for n, m in methods.items() if m == method_table.AT
            ]:
                for measure, prediction, direction in against:
                    x = [v[measure] for v in configurations[sam]["seeds"].values() if measure in v]
                    y = [v[measure] for v in configurations[other]["seeds"].values() if measure in v]
                    if min(len(x), len(y)) < MIN_SEEDS:
                        continue
                    tests.append(
                        {
                            "configuration": arch,
                            "prediction": prediction.format(high_pass=high_pass),
                            "comparison": f"{sam} − {other}",
                            "unit": "points" if measure == "high_pass" else "",
                            **welch(x, y, direction),  # type: ignore[arg-type]
                        }
                    )
    return tests


def table(tests: list[dict]) -> list[str]:
    """The report's lines for the method-level tests, or none when no configuration has the seeds."""
    if not tests:
        return []
    lines = [
        "**Over training seeds (the methods, not single models).** Each analysed model gives one number per "
        "measure (its mean over the batches or images above); two configurations are compared over their "
        "analysed seeds by Welch's t test, one-sided at p < 0.05 in the predicted direction, with its 95% "
        "interval.",
        "",
        *rows(tests, seeds=True),
    ]
    return lines + [""]


def rows(tests: list[dict], seeds: bool) -> list[str]:
    """Tested predictions as a table; `seeds`: with each side's seeds (the method-level tests here)."""
    columns = ["configuration", "prediction", "comparison"] + (["seeds"] if seeds else [])
    lines = table_head(*columns, "difference (95% CI)", "p (one-sided)", "verdict")
    for t in tests:
        scale, fmt = (100, ".2f") if t["unit"] == "points" else (1, ".3g")
        diff = f"{scale * t['difference']:+{fmt}} ({scale * t['low']:{fmt}} to {scale * t['high']:{fmt}})"
        diff += " points" if t["unit"] else ""
        n = f"{t['seeds'][0]} vs {t['seeds'][1]} | " if seeds else ""
        lines.append(
            f"| {t['configuration']} | {t['prediction']} | {t['comparison']} | {n}{diff} | {p_text(t['p'])} "
            f"| **{t['verdict']}** |"
        )
    return lines
