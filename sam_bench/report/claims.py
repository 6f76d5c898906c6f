"""The paper's claims, judged from results records: one verdict per claim and configuration, each on its own
comparisons (`report.comparison`), so adding a model to a grid never changes another configuration's verdict
(docs/reproducing.md). C1 is a non-inferiority claim with a margin fixed in advance; C4 is judged from a cost
measurement made for it (`sam_bench.experiments.step_cost`), not from training logs.
"""

from __future__ import annotations

import functools

from sam_bench.report.comparison import Comparison, compare, judge
from sam_bench.report.records import by_method, first_seed, models
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference
from sam_bench.threat_models import small_budgets
from sam_bench.training import method_table as table

# C1's non-inferiority margin: a clean-accuracy loss of up to 1 point counts as "no worse". A choice,
# fixed before seeing any data (a margin fitted to the data would make the test say what the data
# allow). One point is what the paper's own test set resolves for a single pair of models: two
# well-trained CIFAR-10 models disagree on roughly 5% of the 10,000 test images, a paired standard
# error of about 0.22 points, so 1 point is about 4.5 standard errors, past the 2.5 that a one-sided
# 5% test needs for 80% power (0.5 points, 2.2 standard errors, was not). Smaller evaluations and
# seed-to-seed variation resolve less: the report's detectable effect says how much less.
C1_MARGIN = 0.01
C2_BUDGETS = small_budgets()
C4_TOLERANCE = 0.35  # "about 2x": a measured ratio within 35% of the expected one


CLAIMS = {
    "C1": f"SAM's clean accuracy is at most {100 * C1_MARGIN:g} point below ST's (one-sided non-inferiority test, "
    f"margin {100 * C1_MARGIN:g} point)",
    "C2": "SAM's PGD-10 accuracy is higher than ST's at Linf 1/255, 2/255 and L2 16/255, 32/255 (one-sided tests)",
    "C3": "AT's PGD-10 accuracy at its training eps is higher than SAM's, and its clean accuracy lower "
    "(one-sided tests)",
    "C4": f"SAM costs about 2x ST per training step, PGD-k AT about (k+1)x: the measured ratio's 95% interval within "
    f"{100 * C4_TOLERANCE:.0f}% of that (methods timed interleaved in one process, `cost.json`)",
}


def claimed(
    grouped: dict[str, list[RunRecord]],
) -> tuple[list[RunRecord] | None, list[list[RunRecord]], list[list[RunRecord]]]:
    """ST's model (or None), the SAM and the AT models among a grid's, each over its seeds: the paper's three methods.
    Their variants (ASAM, SAM on PGD examples, TRADES, ...) are shown beside them and judged by no claim."""
    st = next(iter(by_method(grouped, table.STANDARD)), None)
    return st, by_method(grouped, table.SAM), by_method(grouped, table.AT)


def verdicts(records: list[RunRecord], cost: dict | None = None) -> list[dict]:
    """One verdict per claim and configuration; `cost`: `cost.json`, without which C4 is inconclusive."""
    st, sams, ats = claimed(models(records))
    out = []

    def claim(name: str, configuration: str, found: list[Comparison | None]) -> None:
        comparisons = [c for c in found if c is not None]
        out.append(_verdict(name, configuration, *judge(comparisons), comparisons))

    for s in sams:  # the verdicts are sorted by claim below
        claim("C1", s[0].name, [compare(s, st, ("clean",), margin=C1_MARGIN)] if st else [])
        claim("C2", s[0].name, [compare(s, st, ("pgd", n, e)) for n, e in C2_BUDGETS] if st else [])
    for a in ats:
        norm, eps = a[0].config.attack_norm, a[0].config.attack_eps
        for s in sams:  # AT's robustness at its own eps, and what it costs in clean accuracy
            claim("C3", f"{a[0].name} vs {s[0].name}", [compare(a, s, ("pgd", norm, eps)), compare(s, a, ("clean",))])
    for group in sams + ats:
        out.append(cost_verdict(group, st, cost))
    for name in CLAIMS:  # a claim the grid cannot judge at all still gets a line
        if not any(v["claim"] == name for v in out):
            out.append(_verdict(name, "–", "inconclusive", "the grid lacks the models this claim compares", []))
    order = list(CLAIMS)
    return sorted(out, key=lambda v: order.index(v["claim"]))


def _verdict(claim: str, configuration: str, verdict: str, reason: str, comparisons: list[Comparison]) -> dict:
    return {
        "claim": claim,
        "configuration": configuration,
        "text": CLAIMS[claim],
        "verdict": verdict,
        "reason": reason,
        "evidence": [c.describe() for c in comparisons],
        "comparisons": comparisons,
    }


def cost_verdict(group: list[RunRecord], st: list[RunRecord] | None, cost: dict | None) -> dict:
    """C4 for one SAM or AT model: its measured cost per step over ST's against its passes per step over ST's, by the
    rule of docs/reproducing.md. Cost does not depend on what a model learned, so degenerate models count here."""
    name, cfg = group[0].name, group[0].config
    expected = table.passes_per_step(cfg.method, cfg.attack_steps)
    band = (expected * (1 - C4_TOLERANCE), expected * (1 + C4_TOLERANCE))
    verdict = _verdict("C4", name, "inconclusive", "", [])
    measured = cost_of(cost, group)
    if st is None:
        return {**verdict, "reason": "the grid has no ST model to compare with"}
    if measured is None:
        return {
            **verdict,
            "reason": "no cost measurement of this model's settings in this reproduction "
            "(`sam-bench cost <folder>` writes cost.json; training logs are no evidence)",
        }
    ratio = measured["ratio"]
    low, high = ratio["low"], ratio["high"]
    verdict["evidence"] = [
        f"{name}: {ratio['median']:.2f}x {measured['baseline']} per step, 95% interval "
        + (f"[{low:.2f}, {high:.2f}]" if low is not None else "not available")
        + f" over {len(ratio['runs'])} interleaved rounds (expected about {expected}x; "
        f"band {band[0]:.2f}–{band[1]:.2f})"
    ]
    if low is None:
        return {**verdict, "reason": "too few timing rounds for a 95% interval of the median (6 or more needed)"}
    runs = ratio["runs"]
    if len(runs) < rounds_to_decide():
        # the interval of few rounds' median is their whole range, which one disturbed round sets: reported, not judged
        steps = (cost or {}).get("settings", {}).get("steps")
        return {
            **verdict,
            "reason": f"{len(runs)} timing rounds"
            + (f" of {steps} step{'s' if steps != 1 else ''} each" if steps else "")
            + f" are too few to decide: their 95% interval is the whole range of the rounds, which a single "
            f"disturbed round sets (`sam-bench cost --rounds {rounds_to_decide()}` or more gives one that is not)",
        }
    tolerance = f"{100 * C4_TOLERANCE:.0f}% of {expected}x"
    if band[0] <= low and high <= band[1]:
        return {**verdict, "verdict": "holds", "reason": f"the ratio's 95% interval lies within {tolerance}"}
    if high < band[0] or low > band[1]:
        return {**verdict, "verdict": "fails", "reason": f"the ratio's 95% interval lies outside {tolerance}"}
    return {
        **verdict,
        "reason": f"the ratio's 95% interval [{low:.2f}, {high:.2f}] straddles an edge of the band "
        f"{band[0]:.2f}–{band[1]:.2f}; more timing rounds would narrow it",
    }


@functools.cache
def rounds_to_decide() -> int:
    """The fewest timing rounds whose 95% interval of the median leaves out the slowest and the fastest round."""
    n = 2
    while inference.median_interval(range(n))[1] in (None, 0):
        n += 1
    return n


def cost_of(cost: dict | None, group: list[RunRecord]) -> dict | None:
    """The cost measurement of this model (its first seed's settings: the run key), or None."""
    primary = first_seed(group)
    for m in (cost or {}).get("models", []):
        if m["name"] == primary.name and m.get("key") == primary.key and m.get("ratio"):
            return m
    return None


def headline(verdicts: list[dict]) -> list[str]:
    """One line per claim: for which configurations it holds, fails or is inconclusive."""
    lines = []
    for claim in CLAIMS:
        mine = [v for v in verdicts if v["claim"] == claim]
        parts = [
            f"{word} for {', '.join(v['configuration'] for v in mine if v['verdict'] == word)}"
            for word in ("holds", "fails", "inconclusive")
            if any(v["verdict"] == word for v in mine)
        ]
        if mine and all(v["configuration"] == "–" for v in mine):
            parts = ["inconclusive: the grid lacks the models this claim compares"]
        lines.append(f"{claim}: " + "; ".join(parts))
    return lines


def sam_gain(records: list[RunRecord], norm: str, eps: str) -> Comparison | None:
    """The first SAM model's PGD accuracy minus ST's at one budget, tested as C2 tests it."""
    st, sams, _ = claimed(models(records))
    return compare(sams[0], st, ("pgd", norm, eps)) if st and sams else None
