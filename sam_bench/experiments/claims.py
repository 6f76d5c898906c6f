"""The paper's claims, judged from results records: one verdict per claim and configuration.

The claims are about training methods, so a comparison must survive both sources of noise: which
training seeds were drawn and which test images (`sam_bench.stats.method_difference`: seeds x
images, seed s of one model against seed s of the other, all on the same images). With one
training seed in common the seed-to-seed variation is not measured: the comparison then says how
the two trained models differ (the exact McNemar test on the images only one of them gets right,
or Fisher's exact test for results without per-image outcomes) and gives no verdict on the method.

Configurations. C1 and C2 are judged for each SAM model against ST (SAM-0.1, SAM-0.2, SAM-0.4 ...),
C3 for each pair of an AT model and a SAM model, C4 for each SAM and AT model against ST. Each
configuration is judged on its own comparisons: adding a model to a grid never changes another
configuration's verdict.

Verdicts (every test one-sided, in the direction the claim states, at alpha = 0.05):
  - `holds`: every comparison of the configuration significant in the claimed direction. The claim
    is the intersection of its comparisons' claims, so this is an intersection-union test (Berger
    1982): each comparison at level alpha keeps the chance of a false "holds" at alpha, and no
    multiplicity correction is needed (one would only cost power).
  - `fails`: at least one comparison significant the other way. That is a union of tests, so
    Holm's adjustment over the configuration's comparisons keeps the chance of a false "fails" at alpha.
  - `inconclusive`: neither; the reason names each comparison that is not significant with the
    smallest true difference these seeds and images would have detected with 80% power.
C1 is a non-inferiority claim with a margin fixed in advance (C1_MARGIN). C4 is judged from a cost
measurement made for it (`sam_bench.experiments.cost`: the methods timed interleaved in one process), not from
training logs. A comparison with a degenerate model (`sam_bench.evaluation.degenerate`) is no evidence: it is left out.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from sam_bench import stats
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.results_record import Results

# C1's non-inferiority margin: a clean-accuracy loss of up to 1 point counts as "no worse". A choice,
# fixed before seeing any data (a margin fitted to the data would make the test say what the data
# allow). One point is what the paper's own test set resolves for a single pair of models: two
# well-trained CIFAR-10 models disagree on roughly 5% of the 10,000 test images, a paired standard
# error of about 0.22 points, so 1 point is about 4.5 standard errors, past the 2.5 that a one-sided
# 5% test needs for 80% power (0.5 points, 2.2 standard errors, was not). Smaller evaluations and
# seed-to-seed variation resolve less: the report's detectable effect says how much less.
C1_MARGIN = 0.01
C2_BUDGETS = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]
C4_TOLERANCE = 0.35  # "about 2x": a measured ratio within 35% of the expected one


# ---------------------------------------------------------------- what a record holds


def evaluation(record: dict, attack: str, norm: str | None = None, eps: str | None = None, **select) -> dict | None:
    """The record's evaluation of this attack at this budget (clean: the clean pass), or None; `select` as
    `Results.evaluation` takes it (an AutoAttack version, the first N images)."""
    return Results.of(record["results"]).evaluation(attack, norm, eps, **select)


def accuracy(record: dict, attack: str, norm: str | None = None, eps: str | None = None, **select) -> float | None:
    """A fraction from the record's results; None when that evaluation was not run."""
    ev = evaluation(record, attack, norm, eps, **select)
    return None if ev is None else ev["robust_acc"]


def seconds_per_epoch(record: dict) -> float | None:
    """The median epoch after the first (which carries start-up: imports, allocation, compilation);
    without the run's log, wall time / epochs."""
    epochs = record.get("epoch_seconds") or []
    if epochs:
        return statistics.median(epochs[1:] or epochs)
    t, n = record["training"], record["config"].get("epochs")
    return t["wall_time_s"] / n if t.get("wall_time_s") and n else None


def models(records: list[dict]) -> dict[str, list[dict]]:
    """The records grouped by model name (each group: one record per training seed), in order."""
    grouped: dict[str, list[dict]] = {}
    for r in records:
        grouped.setdefault(r["name"], []).append(r)
    return grouped


def seed_of(record: dict) -> int:
    return int(record.get("seed", record["config"].get("seed", 0)) or 0)


# ---------------------------------------------------------------- comparing two models


@dataclass
class Comparison:
    first: str
    second: str
    measure: str  # "clean" or "PGD Linf 1/255"
    margin: float = 0.0  # the claim: first - second > -margin (C1's non-inferiority margin; 0 otherwise)
    difference: float | None = None  # first minus second, mean over seeds and images (fraction)
    low: float | None = None  # 95% interval of the difference
    high: float | None = None
    seeds: int = 0  # training seeds in common
    p_value: float | None = None  # one-sided, H0: difference <= -margin; None without two seeds
    p_other: float | None = None  # one-sided, H0: difference >= -margin (the other way)
    adjusted_other: float | None = None  # p_other after Holm's adjustment within the configuration
    detectable: float | None = None  # smallest true difference detected with 80% power (a lower bound with one seed)
    p_models: float | None = None  # one seed in common: the one-sided p of these two trained models (images only)
    images: int = 0  # test images per seed the comparison rests on
    tests: list[str] = field(default_factory=list)  # what was tested, for the report
    left_out: str | None = None  # why this comparison is no evidence (a degenerate model)

    @property
    def method_level(self) -> bool:
        """Tested over seeds and images: evidence about the training methods."""
        return self.p_value is not None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < stats.ALPHA

    @property
    def significant_other_way(self) -> bool:
        return self.adjusted_other is not None and self.adjusted_other < stats.ALPHA

    def interval(self) -> tuple[float, float, float]:
        """(difference, low, high) once the comparison's test has set them."""
        return _measured(self.difference), _measured(self.low), _measured(self.high)

    def describe(self) -> str:
        head = f"{self.first} − {self.second}, {self.measure}: "
        if self.difference is None:
            return head + (self.left_out or "not measured")
        text = f"{_points(self.difference)} points [{_points(_measured(self.low))}, {_points(_measured(self.high))}]"
        if self.tests:
            text += "; " + "; ".join(self.tests)
        return head + text + (f" ({self.left_out})" if self.left_out else "")

    def power_note(self) -> str:
        """'80% power needs a true difference of at least +x points' (with one seed: more than)."""
        bound = "at least" if self.method_level else "more than"
        return f"80% power needs a true difference of {bound} {_points(_measured(self.detectable))} points"


def _measured(value: float | None) -> float:
    """A number of a comparison that its test sets (a tested comparison has all of them)."""
    assert value is not None, "a comparison's number read before its test set it"
    return value


def _p(p: float) -> str:
    """'< 0.001' or '= 0.042', to follow a 'p'."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _points(x: float) -> str:
    return f"{100 * x:+.2f}"


def _degenerate(*groups: list[dict]) -> str | None:
    bad = sorted(
        {
            f"{r['name']} (seed {seed_of(r)}) is degenerate ({r['degenerate']})"
            for g in groups
            for r in g
            if r.get("degenerate")
        }
    )
    return "left out: " + "; ".join(bad) if bad else None


def compare(
    firsts: list[dict],
    seconds: list[dict],
    measure: tuple,
    margin: float = 0.0,
    label: str | None = None,
    **select,
) -> Comparison | None:
    """Test `firsts` (the seeds of one model) against `seconds` on one measure: ("clean",) or
    ("pgd", norm, eps), with `select` as `evaluation` takes it (an AutoAttack version, the first N
    images). Seeds are paired by number (seed s with seed s: the same initialisation); without a seed
    in common, the first seeds are paired. None when a model lacks the measure."""
    if label is None:
        label = "clean" if measure[0] == "clean" else f"{measure[0].upper()} {measure[1]} {measure[2]}"
    by_seed_1, by_seed_2 = {seed_of(r): r for r in firsts}, {seed_of(r): r for r in seconds}
    common = [s for s in by_seed_1 if s in by_seed_2]
    pairs = [(by_seed_1[s], by_seed_2[s]) for s in common] or [(firsts[0], seconds[0])]
    evs = []
    for a, b in pairs:
        x, y = evaluation(a, *measure, **select), evaluation(b, *measure, **select)
        if x is None or y is None:
            return None
        evs.append((x, y))
    c = Comparison(firsts[0]["name"], seconds[0]["name"], label, margin=margin, seeds=len(pairs))
    c.left_out = _degenerate([a for a, _ in pairs], [b for _, b in pairs])
    (_test_methods if len(pairs) >= 2 else _test_models)(c, evs)
    return c


def _test_methods(c: Comparison, evs: list[tuple[dict, dict]]) -> None:
    """Two or more seeds: the training methods, over seeds and images (`stats.method_difference`)."""
    result = _over_seeds_and_images([x for x, _ in evs], [y for _, y in evs])
    c.difference = result.estimate
    c.low, c.high = result.interval()
    c.p_value = p = result.p_value(c.margin, "greater")
    c.p_other = result.p_value(c.margin, "less")
    c.detectable = -c.margin + result.detectable()
    c.images = result.images
    null = f"{c.first} ≤ {c.second}" + (f" − {100 * c.margin:g} points" if c.margin else "")
    bound = result.interval(1 - 2 * stats.ALPHA)[0]  # the one-sided test rejects exactly when this exceeds -margin
    c.tests.append(
        f"{result.seeds} seeds × {result.images:,} images (standard error {100 * result.standard_error:.2f} "
        f"points: seeds {100 * result.seed_share:.2f}, images {100 * result.image_share:.2f}; "
        f"t, {result.df:.1f} df): one-sided p {_p(p)} against {null} "
        f"(one-sided 95% lower bound {_points(bound)})"
    )


def _over_seeds_and_images(firsts: list[dict], seconds: list[dict]) -> stats.SeedsAndImages:
    """The difference of two models' evaluations (seed s against seed s) over seeds and images;
    without per-image outcomes, from the per-seed accuracies with the images' share bounded."""
    if all(x.get("outcomes") and y.get("outcomes") for x, y in zip(firsts, seconds)):
        aligned = [outcomes.aligned(x["outcomes"], y["outcomes"]) for x, y in zip(firsts, seconds)]
        if len({len(a) for a, _ in aligned}) == 1:  # every seed on the same images
            return stats.method_difference([a for a, _ in aligned], [b for _, b in aligned])
    p1 = statistics.fmean(x["robust_acc"] for x in firsts)
    p2 = statistics.fmean(y["robust_acc"] for y in seconds)
    return stats.seeds_and_images_from_means(
        [x["robust_acc"] - y["robust_acc"] for x, y in zip(firsts, seconds)],
        p1 * (1 - p1) + p2 * (1 - p2),
        min(x["n_examples"] for x in firsts),
    )


def _test_models(c: Comparison, evs: list[tuple[dict, dict]]) -> None:
    """One seed in common: how the two trained models differ on these images. No verdict on the
    methods rests on it; its detectable effect is a lower bound (seed variation would add to it)."""
    x, y = evs[0]
    if x.get("outcomes") and y.get("outcomes"):
        table = stats.PairedTable.of(*outcomes.aligned(x["outcomes"], y["outcomes"]))
        p = stats.noninferiority_p(table, c.margin) if c.margin else stats.mcnemar_exact(table, "greater")
        c.low, c.high = stats.paired_interval(table)
        c.difference, se, n = table.difference, stats.paired_standard_error(table), table.n
        test = (
            f"paired z test against −{100 * c.margin:g} points" if c.margin else "exact McNemar"
        ) + f" on {n:,} images ({table.only_first} only {c.first}, {table.only_second} only {c.second})"
    else:
        k1, n1 = round(x["robust_acc"] * x["n_examples"]), x["n_examples"]
        k2, n2 = round(y["robust_acc"] * y["n_examples"]), y["n_examples"]
        p = (
            stats.unpaired_noninferiority_p(k1, n1, k2, n2, c.margin)
            if c.margin
            else stats.fisher_p(k1, n1, k2, n2, "greater")
        )
        c.low, c.high = stats.unpaired_interval(k1, n1, k2, n2)
        c.difference, n = k1 / n1 - k2 / n2, min(n1, n2)
        se = math.sqrt(k1 / n1 * (1 - k1 / n1) / n1 + k2 / n2 * (1 - k2 / n2) / n2)
        test = f"unpaired {'z' if c.margin else 'Fisher exact'} test (no per-image outcomes recorded; conservative)"
    c.detectable = -c.margin + stats.detectable_effect(se, n - 1)
    c.p_models, c.images = p, n
    c.tests.append(f"one training seed: these two trained models, {test}: one-sided p {_p(p)}")


# ---------------------------------------------------------------- claims


def judge(comparisons: list[Comparison]) -> tuple[str, str]:
    """(verdict, reason) for one configuration's comparisons, each expecting its first model to be
    better (or, with a margin, not worse by more than it)."""
    usable = [c for c in comparisons if c.left_out is None and c.difference is not None]
    if not usable:
        if comparisons:
            return "inconclusive", "every comparison involves a degenerate model"
        return "inconclusive", "the grid lacks the models or evaluations this claim compares"
    tested = [c for c in usable if c.method_level]
    for c, adjusted in zip(tested, stats.holm([_measured(c.p_other) for c in tested])):
        c.adjusted_other = adjusted
    worse = [c for c in tested if c.significant_other_way]
    family = f"Holm over {len(tested)} comparison{'s' if len(tested) > 1 else ''}"
    if worse:
        return "fails", (
            f"significantly the other way (one-sided p < {stats.ALPHA:g}, {family}): "
            + "; ".join(f"{c.first} vs {c.second}, {c.measure} (p {_p(_measured(c.adjusted_other))})" for c in worse)
        )
    if all(c.significant for c in usable):
        return "holds", (
            f"every comparison significant in the claimed direction (one-sided p < {stats.ALPHA:g} "
            "each: an intersection-union test, no multiplicity correction needed)"
        )
    if not tested:
        needs = (
            usable[0].power_note()
            if len(usable) == 1
            else "80% power needs true differences of more than "
            + ", ".join(f"{_points(_measured(c.detectable))} ({c.measure})" for c in usable)
            + " points"
        )
        return "inconclusive", (
            "one training seed in common: the seed-to-seed variation is not measured, so no "
            f"verdict on the method; even without it, {needs}"
        )
    weak = [c for c in usable if not c.significant]
    return "inconclusive", (
        f"not significant at one-sided p < {stats.ALPHA:g}: "
        + "; ".join(
            f"{c.measure} (p {_p(_measured(c.p_value))}; {c.power_note()})"
            if c.method_level
            else f"{c.measure} (one training seed: no test of the method)"
            for c in weak
        )
    )


def _by_method(grouped: dict[str, list[dict]], *methods) -> list[list[dict]]:
    return [g for g in grouped.values() if g[0]["config"]["method"] in methods]


CLAIMS = {
    "C1": f"SAM's clean accuracy is at most {100 * C1_MARGIN:g} point below ST's (one-sided non-inferiority test, "
    f"margin {100 * C1_MARGIN:g} point)",
    "C2": "SAM's PGD-10 accuracy is higher than ST's at Linf 1/255, 2/255 and L2 16/255, 32/255 (one-sided tests)",
    "C3": "AT's PGD-10 accuracy at its training eps is higher than SAM's, and its clean accuracy lower "
    "(one-sided tests)",
    "C4": f"SAM costs about 2x ST per training step, PGD-k AT about (k+1)x: the measured ratio's 95% interval within "
    f"{100 * C4_TOLERANCE:.0f}% of that (methods timed interleaved in one process, `cost.json`)",
}


def verdicts(records: list[dict], cost: dict | None = None) -> list[dict]:
    """One verdict per claim and configuration: dicts with claim, configuration, text, verdict,
    reason, evidence (one line per comparison) and comparisons. `cost`: the reproduction's
    `cost.json` (C4); without it C4 is inconclusive."""
    grouped = models(records)
    st = next(iter(_by_method(grouped, "standard")), None)
    sams, ats = _by_method(grouped, "sam"), _by_method(grouped, "at")
    out = []

    def claim(name: str, configuration: str, found: list[Comparison | None]) -> None:
        comparisons = [c for c in found if c is not None]
        verdict, reason = judge(comparisons)
        out.append(
            {
                "claim": name,
                "configuration": configuration,
                "text": CLAIMS[name],
                "verdict": verdict,
                "reason": reason,
                "evidence": [c.describe() for c in comparisons],
                "comparisons": comparisons,
            }
        )

    for s in sams:
        claim("C1", s[0]["name"], [compare(s, st, ("clean",), margin=C1_MARGIN)] if st else [])
    for s in sams:
        claim("C2", s[0]["name"], [compare(s, st, ("pgd", n, e)) for n, e in C2_BUDGETS] if st else [])
    for a in ats:
        norm, eps = a[0]["config"]["attack_norm"], a[0]["config"]["attack_eps"]
        for s in sams:  # AT's robustness at its own eps, and what it costs in clean accuracy
            claim(
                "C3",
                f"{a[0]['name']} vs {s[0]['name']}",
                [compare(a, s, ("pgd", norm, eps)), compare(s, a, ("clean",))],
            )
    for group in sams + ats:
        out.append(cost_verdict(group, st, cost))
    for name in CLAIMS:  # a claim the grid cannot judge at all still gets a line
        if not any(v["claim"] == name for v in out):
            out.append(
                {
                    "claim": name,
                    "configuration": "–",
                    "text": CLAIMS[name],
                    "verdict": "inconclusive",
                    "reason": "the grid lacks the models this claim compares",
                    "evidence": [],
                    "comparisons": [],
                }
            )
    order = list(CLAIMS)
    return sorted(out, key=lambda v: order.index(v["claim"]))


def cost_verdict(group: list[dict], st: list[dict] | None, cost: dict | None) -> dict:
    """C4 for one SAM or AT model: its cost per training step over ST's, from the interleaved timing
    (`sam_bench.experiments.cost`); holds when the ratio's 95% interval lies within C4_TOLERANCE of the expected
    ratio, fails when it lies wholly outside, inconclusive when it straddles an edge. Cost does not
    depend on what a model learned, so degenerate models count here."""
    name, cfg = group[0]["name"], group[0]["config"]
    expected = 2 if cfg["method"] == "sam" else cfg["attack_steps"] + 1
    band = (expected * (1 - C4_TOLERANCE), expected * (1 + C4_TOLERANCE))
    verdict = {
        "claim": "C4",
        "configuration": name,
        "text": CLAIMS["C4"],
        "verdict": "inconclusive",
        "evidence": [],
        "comparisons": [],
    }
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
    if band[0] <= low and high <= band[1]:
        return {
            **verdict,
            "verdict": "holds",
            "reason": f"the ratio's 95% interval lies within {100 * C4_TOLERANCE:.0f}% of {expected}x",
        }
    if high < band[0] or low > band[1]:
        return {
            **verdict,
            "verdict": "fails",
            "reason": f"the ratio's 95% interval lies outside {100 * C4_TOLERANCE:.0f}% of {expected}x",
        }
    return {
        **verdict,
        "reason": f"the ratio's 95% interval [{low:.2f}, {high:.2f}] straddles an edge of the band "
        f"{band[0]:.2f}–{band[1]:.2f}; more timing rounds would narrow it",
    }


def cost_of(cost: dict | None, group: list[dict]) -> dict | None:
    """The cost measurement of this model (its first seed's settings: the run key), or None."""
    primary = next((r for r in group if r.get("primary", True)), group[0])
    for m in (cost or {}).get("models", []):
        if m["name"] == primary["name"] and m.get("key") == primary.get("key") and m.get("ratio"):
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


def accuracy_over_seeds(group: list[dict], *measure, **select) -> stats.SeedsAndImages | None:
    """A model's accuracy over its training seeds and the test images (two seeds or more), or None."""
    found = [evaluation(r, *measure, **select) for r in group]
    evs = [ev for ev in found if ev is not None]
    if len(evs) < 2 or len(evs) < len(found):  # fewer than two seeds, or one lacks the measure
        return None
    if all(ev.get("outcomes") for ev in evs):
        flags = [outcomes.decode(ev["outcomes"]) for ev in evs]
        if len({len(f) for f in flags}) == 1:
            return stats.seeds_and_images(np.array(flags, float))
    mean = statistics.fmean(ev["robust_acc"] for ev in evs)
    return stats.seeds_and_images_from_means(
        [ev["robust_acc"] for ev in evs], mean * (1 - mean), min(ev["n_examples"] for ev in evs)
    )


def architecture(record: dict) -> str:
    """The record's architecture as the zoo names it, e.g. 'PreActResNet-18 (width x0.125)'."""
    from sam_bench.zoo.store import architecture_name

    cfg = record["config"]
    return architecture_name(
        {"arch": cfg.get("arch", "preactresnet18"), "width": cfg.get("width", 1.0), "kwargs": cfg.get("arch_kwargs")}
    )


def by_architecture(records: list[dict]) -> dict[str, list[dict]]:
    """The records split by architecture, in order: a grid over architectures (the arch-sweep recipe)
    is judged claim by claim within each architecture."""
    grouped: dict[str, list[dict]] = {}
    for r in records:
        grouped.setdefault(architecture(r), []).append(r)
    return grouped


def sam_gain(records: list[dict], norm: str, eps: str) -> Comparison | None:
    """The first SAM model's PGD accuracy minus ST's at one budget, tested as C2 tests it."""
    grouped = models(records)
    st = next(iter(_by_method(grouped, "standard")), None)
    sam = next(iter(_by_method(grouped, "sam")), None)
    return compare(sam, st, ("pgd", norm, eps)) if st and sam else None


def cost_against_st(records: list[dict]) -> list[float | None]:
    """Each record's seconds per epoch over its own architecture's ST (its first seed, as C4): a ViT's SAM
    against a ViT's ST, not against another architecture's."""
    base = {
        arch: next((_median_epoch(g) for g in _by_method(models(subset), "standard")), None)
        for arch, subset in by_architecture(records).items()
    }
    ratios = []
    for r in records:
        t, st = seconds_per_epoch(r), base[architecture(r)]
        ratios.append(t / st if t and st else None)
    return ratios


def _median_epoch(group: list[dict]) -> float | None:
    """Seconds per epoch of a model's first seed: a grid's first seeds are trained in one go, under one
    load, while later seeds may be added later, elsewhere, or several at a time."""
    first = next((r for r in group if r.get("primary", True)), group[0])
    return seconds_per_epoch(first)
