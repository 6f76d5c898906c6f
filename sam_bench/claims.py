"""The paper's claims, judged from a reproduction's results with the tests of `sam_bench.stats`.

  C1  SAM's clean accuracy is within 0.5 points of ST's, or better: a one-sided non-inferiority
      test with that margin (H0: SAM - ST <= -0.5 points).
  C2  SAM's PGD accuracy beats ST's at Linf 1/255, 2/255 and L2 16/255, 32/255.
  C3  AT beats SAM in robust accuracy at AT's training eps, and loses to SAM in clean accuracy.
  C4  SAM costs about 2x ST per epoch, PGD-k AT about (k+1)x ("about": within 35%), per epoch
      meaning the median epoch after the first (the first carries start-up costs), of each model's
      first seed (later seeds may be trained under another load).

How a comparison of two models is tested (first model vs second, e.g. SAM-0.1 vs ST):
  - Test images: the per-image outcomes of both (same images, same seed) form a paired table, and
    the exact McNemar test asks whether the first gets more of the images that only one of them gets
    right (C1: the paired z test against the margin). With several seeds the tables of seed s vs seed
    s are pooled. Results without per-image outcomes (written before they were recorded) fall back
    to Fisher's exact test, which ignores the pairing and is conservative.
  - Training seeds: with two or more seeds in common, the per-seed differences get a t-test.
  - A difference is called only when every available test calls it (an intersection-union test: its
    p-value is the largest of theirs), at p < 0.05 after Holm's adjustment over all the comparisons
    one claim makes.
A claim `holds` when every comparison is significant in the claimed direction, `fails` when one is
significant the other way (C1: when SAM is worse than ST by more than the margin, at 95%), and is
`inconclusive` otherwise, with the reason. C4 compares measured time ratios with a tolerance: timing
noise is not sampling noise, so it gets no p-value. A comparison with a degenerate model
(`sam_bench.degenerate`) is no evidence: it is left out.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from . import outcomes, stats
from .eps import parse_eps

C1_MARGIN = 0.005  # 0.5 points
C2_BUDGETS = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]
C4_TOLERANCE = 0.35


# ---------------------------------------------------------------- what a record holds

def evaluation(record: dict, attack: str, norm: str | None = None, eps: str | None = None) -> dict | None:
    """The record's evaluation of this attack at this budget (clean: the clean pass), or None."""
    results = record["results"]
    if attack == "clean":
        n = (results.get("dataset") or {}).get("n_examples")
        return {"robust_acc": results["clean_acc"], "n_examples": n, "outcomes": results.get("clean_outcomes")}
    for ev in results["evaluations"]:
        if ev["attack"] == attack and ev["norm"] == norm and abs(ev["eps_value"] - parse_eps(eps)) < 1e-9:
            return ev
    return None


def accuracy(record: dict, attack: str, norm: str | None = None, eps: str | None = None) -> float | None:
    """A fraction from the record's results; None when that evaluation was not run."""
    ev = evaluation(record, attack, norm, eps)
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
    difference: float | None = None  # first minus second, mean over seeds (fraction)
    low: float | None = None  # 95% interval of the difference
    high: float | None = None
    p_value: float | None = None  # the deciding p-value (before Holm); None: nothing to test
    adjusted: float | None = None  # after Holm's adjustment within the claim
    tests: list[str] = field(default_factory=list)  # what was tested, for the report
    left_out: str | None = None  # why this comparison is no evidence (a degenerate model)
    margin: float | None = None  # non-inferiority margin (C1)

    @property
    def significant(self) -> bool:
        return self.adjusted is not None and self.adjusted < stats.ALPHA

    def describe(self) -> str:
        head = f"{self.first} − {self.second}, {self.measure}: "
        if self.difference is None:
            return head + (self.left_out or "not measured")
        text = (f"{100 * self.difference:+.2f} points [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"
                + (f", p {_p(self.p_value)}" if self.p_value is not None else "")
                + (f" (Holm: p {_p(self.adjusted)})" if self.adjusted is not None else ""))
        if self.tests:
            text += "; " + "; ".join(self.tests)
        return head + text + (f" ({self.left_out})" if self.left_out else "")


def _p(p: float) -> str:
    """'< 0.001' or '= 0.042', to follow a 'p'."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _degenerate(*groups: list[dict]) -> str | None:
    bad = sorted({f"{r['name']} (seed {seed_of(r)}) is degenerate ({r['degenerate']})"
                  for g in groups for r in g if r.get("degenerate")})
    return "left out: " + "; ".join(bad) if bad else None


def compare(firsts: list[dict], seconds: list[dict], measure: tuple, margin: float | None = None) -> Comparison | None:
    """Test `firsts` (the seeds of one model) against `seconds` on one measure: ("clean",) or
    ("pgd", norm, eps). Seeds are paired by number (seed s with seed s: the same initialisation);
    without a seed in common, the first seeds are paired. None when a model lacks the measure."""
    label = "clean" if measure[0] == "clean" else f"{measure[0].upper()} {measure[1]} {measure[2]}"
    by_seed_1, by_seed_2 = {seed_of(r): r for r in firsts}, {seed_of(r): r for r in seconds}
    common = [s for s in by_seed_1 if s in by_seed_2]
    pairs = [(by_seed_1[s], by_seed_2[s]) for s in common] or [(firsts[0], seconds[0])]
    evs = [(evaluation(a, *measure), evaluation(b, *measure)) for a, b in pairs]
    if any(x is None or y is None for x, y in evs):
        return None
    c = Comparison(firsts[0]["name"], seconds[0]["name"], label, margin=margin)
    c.left_out = _degenerate([a for a, _ in pairs], [b for _, b in pairs])
    differences = [x["robust_acc"] - y["robust_acc"] for x, y in evs]
    c.difference = statistics.fmean(differences)
    seeds = f"{len(pairs)} seed{'s' if len(pairs) > 1 else ''}"

    # Test images: paired when both have per-image outcomes, else unpaired (conservative).
    if all(x.get("outcomes") and y.get("outcomes") for x, y in evs):
        table = sum((stats.PairedTable.of(*outcomes.aligned(x["outcomes"], y["outcomes"])) for x, y in evs),
                    stats.PairedTable(0, 0, 0, 0))
        p_images = (stats.mcnemar_exact(table) if margin is None else stats.noninferiority_p(table, margin))
        low, high = stats.paired_interval(table)
        what = "exact McNemar" if margin is None else f"paired z test against −{100 * margin:g} points"
        c.tests.append(f"{what} on {table.n:,} image pairs ({seeds}; {table.only_first} only "
                       f"{c.first}, {table.only_second} only {c.second}): p {_p(p_images)}")
    else:
        k1 = sum(round(x["robust_acc"] * x["n_examples"]) for x, _ in evs)
        k2 = sum(round(y["robust_acc"] * y["n_examples"]) for _, y in evs)
        n1, n2 = sum(x["n_examples"] for x, _ in evs), sum(y["n_examples"] for _, y in evs)
        p_images = (stats.fisher_p(k1, n1, k2, n2) if margin is None
                    else stats.unpaired_noninferiority_p(k1, n1, k2, n2, margin))
        low, high = stats.unpaired_interval(k1, n1, k2, n2)
        c.tests.append(f"unpaired {'Fisher exact' if margin is None else 'z'} test (no per-image outcomes "
                       f"recorded; conservative): p {_p(p_images)}")
    c.p_value = p_images

    # Training seeds: a t-test over the per-seed differences.
    if len(pairs) >= 2:
        seed = stats.seed_test(differences, margin=margin or 0.0)
        sd = statistics.stdev(differences)
        c.tests.append(f"t-test over {len(pairs)} seeds (differences sd {100 * sd:.2f} points): p {_p(seed.p_value)}")
        c.p_value = max(c.p_value, seed.p_value)  # intersection-union: called only if both call it
        low, high = min(low, seed.low), max(high, seed.high)  # the wider of the two intervals
    c.low, c.high = low, high
    return c


# ---------------------------------------------------------------- claims

def judge(comparisons: list[Comparison], noninferiority: bool = False) -> tuple[str, str]:
    """(verdict, reason) for one claim's comparisons, each expecting its first model to be better
    (with `noninferiority`: not worse by more than its margin). Holm's adjustment runs over the usable ones."""
    usable = [c for c in comparisons if c.left_out is None and c.p_value is not None]
    if not usable:
        if comparisons:
            return "inconclusive", "every comparison involves a degenerate model"
        return "inconclusive", "the grid lacks the models this claim compares"
    for c, adjusted in zip(usable, stats.holm([c.p_value for c in usable])):
        c.adjusted = adjusted
    if noninferiority:
        worse = [c for c in usable if c.high < -c.margin]
    else:
        worse = [c for c in usable if c.significant and c.difference < 0]
    if worse:
        return "fails", "significantly the other way: " + "; ".join(f"{c.first} vs {c.second}, {c.measure}" for c in worse)
    weak = [c for c in usable if not c.significant or (not noninferiority and c.difference <= 0)]
    family = f"Holm over {len(usable)} comparison{'s' if len(usable) > 1 else ''}"
    if weak:
        return "inconclusive", (f"not significant at p < {stats.ALPHA:g} ({family}): "
                                + "; ".join(f"{c.first} vs {c.second}, {c.measure} (p {_p(c.adjusted)})" for c in weak))
    return "holds", f"every comparison significant at p < {stats.ALPHA:g} ({family})"


def _by_method(grouped: dict[str, list[dict]], *methods) -> list[list[dict]]:
    return [g for g in grouped.values() if g[0]["config"]["method"] in methods]


def verdicts(records: list[dict]) -> list[dict]:
    grouped = models(records)
    st = next(iter(_by_method(grouped, "standard")), None)
    sams, ats = _by_method(grouped, "sam"), _by_method(grouped, "at")
    out = []

    def claim(name: str, text: str, comparisons: list[Comparison], noninferiority: bool = False) -> None:
        verdict, reason = judge(comparisons, noninferiority)
        out.append({"claim": name, "text": text, "verdict": verdict, "reason": reason,
                    "evidence": [c.describe() for c in comparisons], "comparisons": comparisons})

    c1 = [compare(s, st, ("clean",), margin=C1_MARGIN) for s in sams] if st else []
    claim("C1", "SAM's clean accuracy is within 0.5 points of ST's or better (one-sided test, margin 0.5 points)",
          [c for c in c1 if c], noninferiority=True)

    c2 = [compare(s, st, ("pgd", n, e)) for s in sams for n, e in C2_BUDGETS] if st else []
    claim("C2", "SAM's PGD-10 accuracy beats ST's at Linf 1/255, 2/255 and L2 16/255, 32/255", [c for c in c2 if c])

    c3 = []
    for a in ats:
        norm, eps = a[0]["config"]["attack_norm"], a[0]["config"]["attack_eps"]
        for s in sams:
            robust = compare(a, s, ("pgd", norm, eps))
            if robust is not None:  # AT's robustness at its own eps, and what it costs in clean accuracy
                c3 += [robust, compare(s, a, ("clean",))]
    claim("C3", "AT beats SAM in robust accuracy at its training eps and loses to it in clean accuracy",
          [c for c in c3 if c])

    # C4: cost does not depend on what a model learned, so degenerate models count here
    ok, lines = [], []
    base = _median_epoch(st) if st else None
    if base:
        for group in sams + ats:
            t = _median_epoch(group)
            if t is None:
                continue
            cfg = group[0]["config"]
            expected = 2 if cfg["method"] == "sam" else cfg["attack_steps"] + 1
            ratio = t / base
            ok.append(abs(ratio / expected - 1) <= C4_TOLERANCE)
            lines.append(f"{group[0]['name']}: {ratio:.2f}x ST per epoch (expected about {expected}x)")
    verdict = "inconclusive" if not ok else "holds" if all(ok) else "fails"
    reason = ("the grid lacks the models this claim compares" if not ok else
              f"measured ratios, within {100 * C4_TOLERANCE:.0f}% of the expected ones" if all(ok) else
              f"measured ratios off by more than {100 * C4_TOLERANCE:.0f}%: "
              + ", ".join(line.split(":")[0] for line, good in zip(lines, ok) if not good))
    out.append({"claim": "C4", "text": "SAM costs about 2x ST per epoch (median epoch after the first), PGD-k AT "
                                       "about (k+1)x (within 35%; a measured ratio, no test)",
                "verdict": verdict, "reason": reason, "evidence": lines, "comparisons": []})
    return out


def architecture(record: dict) -> str:
    """The record's architecture as the zoo names it, e.g. 'PreActResNet-18 (width x0.125)'."""
    from .zoo import architecture_name

    cfg = record["config"]
    return architecture_name({"arch": cfg.get("arch", "preactresnet18"), "width": cfg.get("width", 1.0),
                              "kwargs": cfg.get("arch_kwargs")})


def by_architecture(records: list[dict]) -> dict[str, list[dict]]:
    """The records split by architecture, in order: a grid over architectures (the arch-sweep recipe)
    is judged claim by claim within each architecture."""
    grouped: dict[str, list[dict]] = {}
    for r in records:
        grouped.setdefault(architecture(r), []).append(r)
    return grouped


def sam_gain(records: list[dict], norm: str, eps: str) -> Comparison | None:
    """The first SAM model's PGD accuracy minus ST's at one budget, tested as C2 tests it (unadjusted)."""
    grouped = models(records)
    st = next(iter(_by_method(grouped, "standard")), None)
    sam = next(iter(_by_method(grouped, "sam")), None)
    return compare(sam, st, ("pgd", norm, eps)) if st and sam else None


def cost_against_st(records: list[dict]) -> list[float | None]:
    """Each record's seconds per epoch over its own architecture's ST (its first seed, as C4): a ViT's SAM
    against a ViT's ST, not against another architecture's."""
    base = {arch: next((_median_epoch(g) for g in _by_method(models(subset), "standard")), None)
            for arch, subset in by_architecture(records).items()}
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
