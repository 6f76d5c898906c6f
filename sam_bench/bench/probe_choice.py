"""What probe records decide for a long run on the device they timed: the step mode, how many models train at
once (K, `reproduce --parallel K`), and whether an evaluation beside training pays (docs/benchmarks.md).

The choice reads the probe's round-by-round ratios (`probe.py`), never two medians measured at different
times; several records are pooled, and the methods any of them timed (`settings.methods`) are the methods a
choice must hold for. The slowest method decides each time: a scale takes one mode and one K for all its cells.

- A step mode is a candidate where its median speed-up over eager is at least MIN_GAIN for every capturable
  method; eager always is. A non-eager mode is part of a run's settings key, so it is the scale's setting
  (`train: {step_mode: ...}`), set before its first run and kept.
- K, per candidate mode, by `_pick_k`; of the candidates, the one whose slowest method gains most over one eager
  process is taken.

The grouped ratios (probe_grouped.py) are reported, not acted on: a reproduction trains one run per cell. `compiled`
is no run's step mode, so it is reported, never chosen; a method with no capturable step (TRADES, AWP) trains eager
whatever the mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sam_bench.bench.probe_arrangement import RUN_MODES
from sam_bench.training.static_step import capturable

MIN_GAIN = 1.10  # below a 10% median gain a mode, a K or an overlap is not worth what it changes

_MODE_RATIO = re.compile(r"^(?P<method>[\w-]+): (?P<mode>\w+) speed-up \(eager step / \w+ step\)$")
# K processes: probe_arrangement.aggregate_ratio; a record without the mode timed eager steps only
_K_RATIO = re.compile(
    r"^(?P<method>[\w-]+): aggregate (?:images|steps)/s(?: in (?P<mode>\w+) steps)?, K=(?P<k>\d+) / K=(?P<first>\d+)$"
)
_TRAINING_BESIDE = re.compile(
    r"^(?P<method>[\w-]+): training images/s in (?P<mode>\w+) steps beside an evaluation, K=(?P<k>\d+) "
    r"\(beside / alone\)$"
)
_EVALUATION_BESIDE = re.compile(
    r"^(?P<method>[\w-]+): evaluation images/s beside K=(?P<k>\d+) (?P<mode>\w+) training processes "
    r"\(beside / alone\)$"
)
_GROUPED_RATIO = re.compile(r"^conv: grouped speed-up, N=(?P<n>\d+) \(N separate / one grouped\)$")
_GROUPED_STEP_RATIO = re.compile(
    r"^(?P<method>[a-z0-9-]+): grouped step speed-up, N=(?P<n>\d+) \(N static steps / one grouped step\)$"
)

Table = dict[str, dict[int, float]]  # method -> {K: median ratio}


@dataclass
class Arrangement:
    """What the probe measured of K models at once in one step mode (medians of round-by-round ratios)."""

    mode: str
    aggregate: Table = field(default_factory=dict)  # K processes' aggregate images/s over one's (K=1: 1)
    training_beside: Table = field(default_factory=dict)  # K trainings' images/s with an evaluation beside / without
    evaluation_beside: Table = field(default_factory=dict)  # the evaluation's images/s beside K trainings / alone

    def gain(self, method: str, k: int) -> float | None:
        return 1.0 if k == 1 else self.aggregate.get(method, {}).get(k)

    def beside_at(self, method: str, trainers: int) -> tuple[int, float, float] | None:
        """(K, training share, evaluation share) timed at the fewest training processes not below `trainers`
        with both shares timed; None where none is."""
        timed = sorted(k for k in self.training_beside.get(method, {}) if k in self.evaluation_beside.get(method, {}))
        at = next((k for k in timed if k >= trainers), None)
        if at is None:
            return None
        return at, self.training_beside[method][at], self.evaluation_beside[method][at]


@dataclass
class Choice:
    step_mode: str = "eager"
    parallel: int = 1
    ladder: list[int] = field(default_factory=lambda: [1])  # the Ks taken on the way up to `parallel`
    methods: list[str] = field(default_factory=list)  # the methods the choice holds for
    arrangement: Arrangement | None = None  # what was measured of K at once in the chosen mode
    beside_pays: dict[int, bool] = field(default_factory=dict)  # K -> an evaluation beside K trainings pays
    grouped: dict[int, float] = field(default_factory=dict)  # N -> N separate networks' time / one grouped's
    # (method, N) -> N static steps' time / one grouped step's (the whole step, not only its convolutions)
    grouped_steps: dict[tuple[str, int], float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def options(self) -> list[str]:
        """The reproduce option that carries K."""
        return ["--parallel", str(self.parallel)]

    def recipe_line(self) -> str:
        """The step mode is part of what a run trains (its settings key names it), so it is no call's option
        but the scale's setting, fixed before the scale's first run."""
        return f"train: {{step_mode: {self.step_mode}}}"


def _medians(records: tuple[dict, ...], pattern: re.Pattern) -> list[tuple[re.Match, float]]:
    found = []
    for record in records:
        for ratio in record.get("ratios", []):
            match = pattern.match(ratio["name"])
            if match and ratio.get("median") is not None:
                found.append((match, float(ratio["median"])))
    return found


def _table(records: tuple[dict, ...], pattern: re.Pattern, mode: str) -> Table:
    table: Table = {}
    for match, median in _medians(records, pattern):
        if match.groupdict().get("first", "1") != "1":  # against another K than one process: not a gain over one
            continue
        if (match["mode"] or "eager") == mode:
            table.setdefault(match["method"], {})[int(match["k"])] = median
    return table


def _said(values: dict[str, float]) -> str:
    return ", ".join(f"{m} x{g:.2f}" for m, g in values.items())


def _pick_k(arrangement: Arrangement, methods: list[str], reasons: list[str]) -> list[int]:
    """The Ks taken in one mode, in order (the last is the choice): up the process counts timed, each where every
    method gains MIN_GAIN over the K taken so far (an evaluation's cost beside K-1 trainings is read at the nearest
    count timed above, never below)."""
    mode = arrangement.mode
    counts = sorted({k for per in arrangement.aggregate.values() for k in per})
    if not methods:
        reasons.append(f"K: no method timed in {mode} steps")
        return [1]
    if not counts:
        reasons.append(f"K: no concurrent processes timed in {mode} steps")
        return [1]
    ladder = [1]
    for k in counts:
        gains = {m: arrangement.gain(m, k) for m in methods}
        timed = {m: g for m, g in gains.items() if g is not None}
        head = f"{mode}, K={k}: aggregate images/s {_said(timed) or 'not timed'} of one process"
        missing = [m for m in methods if gains[m] is None]
        if missing:
            reasons.append(f"{head}; not timed for {', '.join(missing)}: not taken")
            continue
        short = [m for m in methods if timed[m] < (arrangement.gain(m, ladder[-1]) or 1.0) * MIN_GAIN]
        if short:
            reasons.append(f"{head}; {', '.join(short)} not x{MIN_GAIN:.2f} of K={ladder[-1]}: not taken")
            continue
        unmeasured = [m for m in methods if arrangement.beside_at(m, k - 1) is None]
        if unmeasured:
            reasons.append(
                f"{head}; an evaluation beside {k - 1} or more trainings not timed for {', '.join(unmeasured)} "
                "(a cell's evaluation runs beside the other cells' training): not taken"
            )
            continue
        reasons.append(f"{head}: taken")
        ladder.append(k)
    return ladder


def _beside_verdicts(arrangement: Arrangement, methods: list[str], reasons: list[str]) -> dict[int, bool]:
    verdicts = {}
    counts = sorted({k for m in methods for k in arrangement.training_beside.get(m, {})})
    for k in counts:
        shares = {m: arrangement.beside_at(m, k) for m in methods}
        if any(s is None or s[0] != k for s in shares.values()):
            continue
        together = {m: s[1] + s[2] for m, s in shares.items() if s is not None}
        pays = all(t >= MIN_GAIN for t in together.values())
        verdicts[k] = pays
        said = ", ".join(f"{m} x{s[1]:.2f} + x{s[2]:.2f}" for m, s in shares.items() if s is not None)
        reasons.append(
            f"an evaluation beside K={k} {arrangement.mode} trainings: training and evaluation at these shares of "
            f"their speeds alone ({said}), together {'at least' if pays else 'less than'} x{MIN_GAIN:.2f} of one "
            f"after the other: {'pays' if pays else 'does not pay'}"
        )
    return verdicts


def choose(record: dict, *more: dict) -> Choice:
    """The step mode, K and the verdict on evaluation beside training that probe records' ratios pick, with
    a sentence for each decision."""
    records = (record, *more)
    choice = Choice()
    timed_methods = list(dict.fromkeys(m for r in records for m in r.get("settings", {}).get("methods", [])))
    gains: dict[str, dict[str, float]] = {}
    for match, median in _medians(records, _MODE_RATIO):
        gains.setdefault(match["mode"], {})[match["method"]] = median
    candidates: list[tuple[str, dict[str, float]]] = [("eager", dict.fromkeys(timed_methods, 1.0))]
    for mode in RUN_MODES[1:]:
        per_method = {m: g for m, g in gains.get(mode, {}).items() if capturable(m)}
        if not per_method:
            choice.reasons.append(f"{mode}: not timed")
            continue
        slowest = min(per_method, key=per_method.__getitem__)
        if per_method[slowest] >= MIN_GAIN:
            candidates.append((mode, per_method))
            choice.reasons.append(f"{mode}: faster than eager for every method timed ({_said(per_method)})")
        else:
            choice.reasons.append(f"{mode}: {slowest} gains less than x{MIN_GAIN:.2f} ({_said(per_method)})")
    best: tuple[float, float, str] | None = None
    picked: dict[str, tuple[list[int], Arrangement, list[str], list[str]]] = {}
    for mode, per_method in candidates:
        arrangement = Arrangement(
            mode,
            _table(records, _K_RATIO, mode),
            _table(records, _TRAINING_BESIDE, mode),
            _table(records, _EVALUATION_BESIDE, mode),
        )
        methods, reasons = list(per_method), list[str]()
        ladder = _pick_k(arrangement, methods, reasons)
        k = ladder[-1]
        picked[mode] = (ladder, arrangement, methods, reasons)
        overall = min((per_method[m] * (arrangement.gain(m, k) or 1.0) for m in methods), default=1.0)
        if best is None or (overall, min(per_method.values(), default=1.0)) > best[:2]:
            best = (overall, min(per_method.values(), default=1.0), mode)
    assert best is not None  # eager is always a candidate
    choice.step_mode = best[2]
    for mode, (_, arrangement, _, reasons) in picked.items():  # K's reasons: the chosen mode's, and where K was timed
        if mode == choice.step_mode or arrangement.aggregate:
            choice.reasons += reasons
    choice.ladder, choice.arrangement, choice.methods, _ = picked[choice.step_mode]
    choice.parallel = choice.ladder[-1]
    choice.beside_pays = _beside_verdicts(choice.arrangement, choice.methods, choice.reasons)
    for match, median in _medians(records, _GROUPED_RATIO):
        n = int(match["n"])
        choice.grouped[n] = median
        verdict = "worth it (train --step-mode grouped --seeds)" if median >= MIN_GAIN else "not worth it"
        choice.reasons.append(f"{n} seeds as one grouped network: x{median:.2f} of {n} separate, {verdict}")
    for match, median in _medians(records, _GROUPED_STEP_RATIO):
        n, method = int(match["n"]), match["method"]
        choice.grouped_steps[(method, n)] = median
        verdict = "worth it (train --step-mode grouped --seeds)" if median >= MIN_GAIN else "not worth it"
        choice.reasons.append(f"{method}, {n} seeds in one grouped step: x{median:.2f} of {n} static steps, {verdict}")
    return choice
