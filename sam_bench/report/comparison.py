"""Two models compared on one measure, as the claims compare them (`report.claims`), and how a configuration's
verdict follows (`judge`): the tests and the rule are those of docs/reproducing.md, "Uncertainty: intervals,
paired tests, seeds" (over seeds and images with two seeds or more; one seed compares two trained models only).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from sam_bench.evaluation import outcomes
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.report import collapse
from sam_bench.report.records import images
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference, mixed_model


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
    result: mixed_model.SeedsAndImages | None = None  # the fit over seeds and images (two seeds or more)
    tests: list[str] = field(default_factory=list)  # what was tested, for the report
    left_out: str | None = None  # why this comparison is no evidence (a degenerate model)
    first_level: float | None = None  # the first model's accuracy, mean over the paired seeds on the same images
    second_level: float | None = None  # the second model's, likewise: first_level - second_level is the difference

    @property
    def method_level(self) -> bool:
        """Tested over seeds and images: evidence about the training methods."""
        return self.p_value is not None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < inference.ALPHA

    def interval(self) -> tuple[float, float, float]:
        """(difference, low, high) once the comparison's test has set them."""
        return _measured(self.difference), _measured(self.low), _measured(self.high)

    def points(self, unit: str = "") -> str:
        """The difference and its 95% interval in points (`points_interval`)."""
        return points_interval(*self.interval(), unit)

    def levels(self) -> str:
        """The two arms' levels before their difference: 'ST 1.95% → SAM-0.1 4.17%' (second, then first)."""
        second, first = 100 * _measured(self.second_level), 100 * _measured(self.first_level)
        return f"{self.second} {second:.2f}% → {self.first} {first:.2f}%"

    def describe(self) -> str:
        head = f"{self.first} − {self.second}, {self.measure}: "
        if self.difference is None:
            return head + (self.left_out or "not measured")
        text = f"{self.levels()}, {self.points(' points')}"
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


def p_text(p: float) -> str:
    """'< 0.001' or '= 0.042', to follow a 'p'."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def p_cell(p: float | None) -> str:
    """A table's p value cell: '–', '< 0.001' or '0.042'."""
    return "–" if p is None else p_text(p).removeprefix("= ")


def table_head(*columns: str) -> list[str]:
    """A markdown table's header row and the line under it."""
    return [f"| {' | '.join(columns)} |", "|" + "---|" * len(columns)]


def with_interval(summary: dict, fmt: str = ".3g", centre: str = "mean") -> str:
    """A summary's mean (or median) with its 95% interval where it has one: '1.23 (1.01–1.45)'."""
    low, high = summary.get("low"), summary.get("high")
    interval = f" ({low:{fmt}}–{high:{fmt}})" if low is not None and high is not None else ""
    return f"{summary[centre]:{fmt}}{interval}"


def percent(x: float | None) -> str:
    """A fraction as a table's percentage cell: '81.86', or '–' where it is not measured."""
    return "–" if x is None else f"{100 * x:.2f}"


def _points(x: float) -> str:
    return f"{100 * x:+.2f}"


def points_interval(difference: float, low: float, high: float, unit: str = "") -> str:
    """A difference and its 95% interval in points: '+2.31 [+1.36, +3.27]' ('+2.31 points [...]' with a unit)."""
    return f"{100 * difference:+.2f}{unit} [{100 * low:+.2f}, {100 * high:+.2f}]"


def compare(
    firsts: list[RunRecord],
    seconds: list[RunRecord],
    measure: tuple,
    margin: float = 0.0,
    label: str | None = None,
    in_order: bool = False,
    **select,
) -> Comparison | None:
    """Test `firsts` (one model's seeds) against `seconds` on one measure, ("clean",) or ("pgd", norm, eps), with
    `select` as `evaluation` takes it. Seeds are paired by number (the same initialisation), else the first seeds;
    `in_order`: the k-th of one with the k-th of the other (different seeds are independent trainings, so a pairing
    fixed in advance estimates the same difference). None when a model lacks the measure."""
    if label is None:
        label = "clean" if measure[0] == "clean" else f"{measure[0].upper()} {measure[1]} {measure[2]}"
    aside = collapse.collapsed(firsts) + collapse.collapsed(seconds)
    firsts, seconds = collapse.healthy(firsts), collapse.healthy(seconds)
    if not firsts or not seconds:
        return None
    if in_order:
        pairs = list(zip(sorted(firsts, key=lambda r: r.seed), sorted(seconds, key=lambda r: r.seed)))
    else:
        by_seed_1, by_seed_2 = {r.seed: r for r in firsts}, {r.seed: r for r in seconds}
        common = [s for s in by_seed_1 if s in by_seed_2]
        pairs = [(by_seed_1[s], by_seed_2[s]) for s in common] or [(firsts[0], seconds[0])]
    evs = []
    for a, b in pairs:
        x, y = a.evaluation(*measure, **select), b.evaluation(*measure, **select)
        if x is None or y is None:
            return None
        evs.append((x, y))
    c = Comparison(firsts[0].name, seconds[0].name, label, margin=margin, seeds=len(pairs))
    bad = sorted({f"{r.name} (seed {r.seed}) is degenerate ({r.degenerate})" for p in pairs for r in p if r.degenerate})
    c.left_out = "left out: " + "; ".join(bad) if bad else None
    c.first_level, c.second_level = _levels(evs)
    (_test_methods if len(pairs) >= 2 else _test_models)(c, evs)
    if aside:
        c.tests.append(
            "left aside as collapsed (counted in the collapse rate instead): "
            + ", ".join(f"{r.name} seed {r.seed}" for r in aside)
        )
    return c


def _levels(evs: list[tuple[Evaluation, Evaluation]]) -> tuple[float, float]:
    """Each arm's accuracy, mean over the paired seeds, on the images both evaluations of a pair cover (those its
    difference is measured on, so that the two levels differ by the difference)."""
    firsts, seconds = [], []
    for x, y in evs:
        if x.outcomes and y.outcomes:
            a, b = outcomes.aligned(x.outcomes, y.outcomes)
            firsts.append(float(a.mean()))
            seconds.append(float(b.mean()))
        else:
            firsts.append(x.robust_acc)
            seconds.append(y.robust_acc)
    return statistics.fmean(firsts), statistics.fmean(seconds)


def _test_methods(c: Comparison, evs: list[tuple[Evaluation, Evaluation]]) -> None:
    """Two or more seeds: the training methods, over seeds and images (`mixed_model.method_difference`)."""
    result = _over_seeds_and_images([x for x, _ in evs], [y for _, y in evs])
    c.difference = result.estimate
    c.low, c.high = result.interval()
    c.p_value = p = result.p_value(c.margin, "greater")
    c.p_other = result.p_value(c.margin, "less")
    c.detectable = -c.margin + result.detectable()
    c.images, c.result = result.images, result
    null = f"{c.first} ≤ {c.second}" + (f" − {100 * c.margin:g} points" if c.margin else "")
    bound = result.interval(1 - 2 * inference.ALPHA)[0]  # the one-sided test rejects exactly when this exceeds -margin
    c.tests.append(
        f"{result.seeds} seeds × {result.images:,} images (standard error {100 * result.standard_error:.2f} "
        f"points: seeds {100 * result.seed_share:.2f}, images {100 * result.image_share:.2f}, residual "
        f"{100 * result.residual_share:.2f}, in quadrature; t, {result.df:.1f} df"
        + (f", counted conservatively ({result.seeds} seeds)" if result.conservative else "")
        + f"): one-sided p {p_text(p)} against {null} (one-sided 95% lower bound {_points(bound)})"
    )


def _over_seeds_and_images(firsts: list[Evaluation], seconds: list[Evaluation]) -> mixed_model.SeedsAndImages:
    """The difference of two models' evaluations (seed s against seed s) over seeds and images;
    without per-image outcomes, from the per-seed accuracies with the images' share bounded."""
    paired = [(x.outcomes, y.outcomes) for x, y in zip(firsts, seconds)]
    if all(a and b for a, b in paired):
        aligned = [outcomes.aligned(a, b) for a, b in paired if a and b]
        if len({len(a) for a, _ in aligned}) == 1:  # every seed on the same images
            return mixed_model.method_difference([a for a, _ in aligned], [b for _, b in aligned])
    p1 = statistics.fmean(x.robust_acc for x in firsts)
    p2 = statistics.fmean(y.robust_acc for y in seconds)
    return mixed_model.seeds_and_images_from_means(
        [x.robust_acc - y.robust_acc for x, y in zip(firsts, seconds)],
        p1 * (1 - p1) + p2 * (1 - p2),
        min(images(x) for x in firsts),
    )


def _test_models(c: Comparison, evs: list[tuple[Evaluation, Evaluation]]) -> None:
    """One seed in common: how the two trained models differ on these images. No verdict on the
    methods rests on it; its detectable effect is a lower bound (seed variation would add to it)."""
    x, y = evs[0]
    if x.outcomes and y.outcomes:
        table = inference.PairedTable.of(*outcomes.aligned(x.outcomes, y.outcomes))
        p = inference.noninferiority_p(table, c.margin) if c.margin else inference.mcnemar_exact(table, "greater")
        c.low, c.high = inference.paired_interval(table)
        c.difference, se, n = table.difference, inference.paired_standard_error(table), table.n
        test = (
            f"paired z test against −{100 * c.margin:g} points" if c.margin else "exact McNemar"
        ) + f" on {n:,} images ({table.only_first} only {c.first}, {table.only_second} only {c.second})"
    else:
        n1, n2 = images(x), images(y)
        k1, k2 = round(x.robust_acc * n1), round(y.robust_acc * n2)
        p = (
            inference.unpaired_noninferiority_p(k1, n1, k2, n2, c.margin)
            if c.margin
            else inference.fisher_p(k1, n1, k2, n2, "greater")
        )
        c.low, c.high = inference.unpaired_interval(k1, n1, k2, n2)
        c.difference, n = k1 / n1 - k2 / n2, min(n1, n2)
        se = math.sqrt(k1 / n1 * (1 - k1 / n1) / n1 + k2 / n2 * (1 - k2 / n2) / n2)
        test = f"unpaired {'z' if c.margin else 'Fisher exact'} test (no per-image outcomes recorded; conservative)"
    c.detectable = -c.margin + inference.detectable_effect(se, n - 1)
    c.p_models, c.images = p, n
    c.tests.append(f"one training seed: these two trained models, {test}: one-sided p {p_text(p)}")


def judge(comparisons: list[Comparison]) -> tuple[str, str]:
    """(verdict, reason) for one configuration's comparisons, each claiming its first model the better."""
    usable = [c for c in comparisons if c.left_out is None and c.difference is not None]
    if not usable:
        if comparisons:
            return "inconclusive", "every comparison involves a degenerate model"
        return "inconclusive", "the grid lacks the models or evaluations this claim compares"
    tested = [c for c in usable if c.method_level]
    for c, adjusted in zip(tested, inference.holm([_measured(c.p_other) for c in tested])):
        c.adjusted_other = adjusted
    worse = [c for c in tested if c.adjusted_other is not None and c.adjusted_other < inference.ALPHA]
    family = f"Holm over {len(tested)} comparison{'s' if len(tested) > 1 else ''}"
    if worse:
        return "fails", (
            f"significantly the other way (one-sided p < {inference.ALPHA:g}, {family}): "
            + "; ".join(
                f"{c.first} vs {c.second}, {c.measure} (p {p_text(_measured(c.adjusted_other))})" for c in worse
            )
        )
    if all(c.significant for c in usable):
        return "holds", (
            f"every comparison significant in the claimed direction (one-sided p < {inference.ALPHA:g} "
            "each: an intersection-union test, no multiplicity correction needed)"
        )
    if not tested:
        return "inconclusive", (
            "one training seed in common: what these trained models do, not their methods; what is missing is a "
            "second seed of each (the seed-to-seed variation is not measured, and no verdict on a method rests on "
            "one seed)"
        )
    weak = [c for c in usable if not c.significant]
    return "inconclusive", (
        f"not significant at one-sided p < {inference.ALPHA:g}: "
        + "; ".join(
            f"{c.measure} (p {p_text(_measured(c.p_value))}; {what_is_missing(c)})"
            if c.method_level
            else f"{c.measure} (one training seed: no test of the method)"
            for c in weak
        )
    )


SEEDS_CONSIDERED = 100  # the most seeds `what_is_missing` would propose


def what_is_missing(c: Comparison) -> str:
    """For a comparison over seeds and images that is not significant: its direction where only that is (C1), which
    source of noise dominates, and the seeds that would detect the observed distance from the null with 80% power."""
    result = c.result
    assert result is not None, "what_is_missing is for comparisons over seeds and images"
    said = []
    if c.margin:
        below, above = result.p_value(0.0, "less"), result.p_value(0.0, "greater")
        if min(below, above) < inference.ALPHA:
            way = "below" if below < above else "above"
            said.append(
                f"{c.first} is significantly {way} {c.second} (one-sided p {p_text(min(below, above))}); whether by "
                f"more than the {100 * c.margin:g}-point margin is what is undecided"
            )
    seeds_part = result.seed_share**2
    images_part = result.image_share**2 + result.residual_share**2
    dominant = "the seeds" if seeds_part >= images_part else "the images"
    signed = _measured(c.difference) + c.margin
    distance = abs(signed)
    needed = mixed_model.seeds_needed(result, distance, most=SEEDS_CONSIDERED)
    if signed < 0:  # the tested direction is the first model's being better: more seeds would only confirm less
        settle = (
            f"the observed difference, {_points(_measured(c.difference))} points, lies on the other side of the "
            "null from the tested direction: more seeds would not make it significant that way"
        )
    elif needed is not None and needed > result.seeds:
        settle = (
            f"about {needed} seeds on these {result.images:,} images would detect the observed "
            f"{_points(distance)} points with 80% power"
        )
    elif needed is None:
        settle = (
            f"not even {SEEDS_CONSIDERED} seeds on these {result.images:,} images would detect the observed "
            f"{_points(distance)} points with 80% power: a difference this small is not settled by seeds alone"
            + ("; more images per seed" if dominant == "the images" else "")
        )
    else:
        settle = f"{c.power_note()}: the observed {_points(distance)} points is within the noise"
    said.append(f"{dominant} carry most of its standard error; {settle}")
    return "; ".join(said)
