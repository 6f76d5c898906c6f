"""What a probe record decides for the rest of a GPU window: the step mode and how many models train at
once (issue #46: "the window plan reads it and picks the mode and K for the rest").

The probe times every part round by round and takes each ratio within a round (`probe.py`), so the
choice reads ratios, never two medians measured at different times:

- the step mode (the scale's `train: {step_mode: ...}`): static or graph where its speed-up over the
  eager step, the median of the round-by-round ratios, is at least MIN_GAIN for every capturable method
  the probe timed in that mode (the slowest method decides: a scale takes one mode for all its cells); the
  faster of the two if both qualify; else eager. A non-eager mode draws other random numbers than eager
  (training/step_mode.py) and is part of a run's settings key, so it is set in the recipe's scale in a
  commit before the scale's first stint, and kept;
- K (`--parallel`): where the step mode stays eager, going up the probe's process counts, a larger K is
  taken while its aggregate steps/s beat the K taken so far by MIN_GAIN (for every method the probe ran
  concurrently). Where a static or graph step is taken, K stays 1: the concurrent processes ran eager
  steps, whose idle host time is what they overlap and what those steps remove, so K's gain beside them is
  unmeasured; and K models at once each finish K times later, so a window ends on K unfinished runs, each
  an 85 MiB checkpoint to carry (the second window, one model at a time in graph steps, finished ST and
  SAM-0.1 and carried one: benchmarks/nvidia-h200-calls.md).

The grouped-convolution ratio (probe_grouped.py) is reported, not acted on: whether N seeds stacked as one
grouped network (`train --step-mode grouped --seeds`, training/grouped_runs.py) would pay on this device.
A reproduction trains its cells one run each, so the window's plan cannot take it; a user training seeds
by hand can.

`compiled` is timed by the probe but is not a run's step mode, so it is reported, never chosen. A
method with no capturable step (TRADES, AWP) trains eager whatever the mode (its recipe entry says so),
so `training_gain` gives it no mode's gain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sam_bench.training.static_step import capturable

MIN_GAIN = 1.10  # below a 10% median gain a mode or a K is not worth what it changes
RUN_MODES = ("static", "graph")  # the non-eager modes a run can take (`--step-mode`)

_MODE_RATIO = re.compile(r"^(?P<method>[\w-]+): (?P<mode>\w+) speed-up \(eager step / \w+ step\)$")
_K_RATIO = re.compile(r"^(?P<method>[\w-]+): aggregate steps/s, K=(?P<k>\d+) / K=(?P<first>\d+)$")
_GROUPED_RATIO = re.compile(r"^conv: grouped speed-up, N=(?P<n>\d+) \(N separate / one grouped\)$")
_GROUPED_STEP_RATIO = re.compile(
    r"^(?P<method>[a-z0-9-]+): grouped step speed-up, N=(?P<n>\d+) \(N static steps / one grouped step\)$"
)


@dataclass
class Choice:
    step_mode: str = "eager"
    parallel: int = 1
    mode_gain: float = 1.0  # the chosen mode's speed-up over eager (its slowest method's median)
    parallel_gain: float = 1.0  # the chosen K's aggregate steps/s over one process
    grouped: dict[int, float] = field(default_factory=dict)  # N -> N separate networks' time / one grouped's
    # (method, N) -> N static steps' time / one grouped step's (the whole step, not only its convolutions)
    grouped_steps: dict[tuple[str, int], float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def options(self) -> list[str]:
        """The reproduce option that carries K (a `tools/gpu_relay.sh start` or `work` call passes it on)."""
        return ["--parallel", str(self.parallel)]

    def recipe_line(self) -> str:
        """The step mode is part of what a run trains (its settings key names it), so it is no call's option
        but the scale's setting, fixed in a commit before the scale's first stint."""
        return f"train: {{step_mode: {self.step_mode}}}"

    def training_gain(self, method: str) -> float:
        """How much faster a method's training runs than one eager process: the mode's gain where the method
        has a capturable step, else K's (one of the two is 1: K is taken only with eager steps)."""
        mode = self.mode_gain if self.step_mode != "eager" and capturable(method) else 1.0
        return max(mode, self.parallel_gain)


def _medians(record: dict, pattern: re.Pattern) -> list[tuple[re.Match, float]]:
    found = []
    for ratio in record.get("ratios", []):
        match = pattern.match(ratio["name"])
        if match and ratio.get("median") is not None:
            found.append((match, float(ratio["median"])))
    return found


def choose(record: dict) -> Choice:
    """The step mode and K a probe record's ratios pick, with a sentence for each decision."""
    choice = Choice()
    gains: dict[str, dict[str, float]] = {}
    for match, median in _medians(record, _MODE_RATIO):
        gains.setdefault(match["mode"], {})[match["method"]] = median
    candidates = []
    for mode in RUN_MODES:
        per_method = {m: g for m, g in gains.get(mode, {}).items() if capturable(m)}
        if not per_method:
            choice.reasons.append(f"{mode}: not timed")
            continue
        slowest = min(per_method, key=per_method.__getitem__)
        said = ", ".join(f"{m} x{g:.2f}" for m, g in per_method.items())
        if per_method[slowest] >= MIN_GAIN:
            candidates.append((per_method[slowest], mode))
            choice.reasons.append(f"{mode}: faster than eager for every method timed ({said})")
        else:
            choice.reasons.append(f"{mode}: {slowest} gains less than x{MIN_GAIN:.2f} ({said})")
    if candidates:
        choice.mode_gain, choice.step_mode = max(candidates)
    by_k: dict[int, list[float]] = {}
    for match, median in _medians(record, _K_RATIO):
        by_k.setdefault(int(match["k"]), []).append(median)
    taken, taken_gain = 1, 1.0
    for k in sorted(by_k):
        gain = min(by_k[k])  # the method that gains least decides
        if choice.step_mode != "eager":
            choice.reasons.append(
                f"K={k}: aggregate steps/s x{gain:.2f} of one process in eager steps, not taken beside the "
                f"{choice.step_mode} step (unmeasured with it; K models at once each finish K times later)"
            )
        elif gain >= taken_gain * MIN_GAIN:
            choice.reasons.append(f"K={k}: aggregate steps/s x{gain:.2f} of one process, taken")
            taken, taken_gain = k, gain
        else:
            choice.reasons.append(
                f"K={k}: aggregate steps/s x{gain:.2f} of one process, not x{MIN_GAIN:.2f} of K={taken}"
            )
    if not by_k:
        choice.reasons.append("K: no concurrent processes timed")
    choice.parallel, choice.parallel_gain = taken, taken_gain
    for match, median in _medians(record, _GROUPED_RATIO):
        n = int(match["n"])
        choice.grouped[n] = median
        verdict = "worth it (train --step-mode grouped --seeds)" if median >= MIN_GAIN else "not worth it"
        choice.reasons.append(f"{n} seeds as one grouped network: x{median:.2f} of {n} separate, {verdict}")
    for match, median in _medians(record, _GROUPED_STEP_RATIO):
        n, method = int(match["n"]), match["method"]
        choice.grouped_steps[(method, n)] = median
        verdict = "worth it (train --step-mode grouped --seeds)" if median >= MIN_GAIN else "not worth it"
        choice.reasons.append(f"{method}, {n} seeds in one grouped step: x{median:.2f} of {n} static steps, {verdict}")
    return choice
