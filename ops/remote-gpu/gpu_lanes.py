"""A stint's work when K cells of the full scale run at once (`reproduce --parallel K`), in numbers, for
ops/remote-gpu/gpu_plan.py: K lanes take the queue's models in order, each training a model then evaluating it (as
each `--parallel` worker works a cell), and each lane moves at the share of its speed alone that the probe
measured for what runs beside it (`sam_bench.bench.probe_choice.Arrangement`, in the chosen step mode):

- n lanes training, none evaluating: each at its method's aggregate gain at n processes over one, divided by
  n (a count the probe did not time is read at the nearest count timed below it: the aggregate at fewer
  processes, never a gain it did not see);
- n lanes training beside evaluations: the training at that share times its measured share beside an
  evaluation, and the evaluations together at the evaluation's measured share beside n trainings (both
  read at the nearest count timed at n or above: more contention, never less), split evenly between them;
- lanes evaluating with none training: the evaluations share the device evenly, no gain assumed from their
  running at once (not measured: an evaluation's large batches keep the device busy alone).

A method the probe did not time at once (TRADES, AWP) is counted as the timed method that gains least.
One lane (K=1) is the queue worked in order at the speed alone. Standard library only, as the window's
arithmetic (ops/remote-gpu/gpu_window.py); `sentence` says in the plan what it counted and from what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpu_window import batches_for


@dataclass
class Speeds:
    """The shares of their speed alone that cells running at once move at (`shares`); `arrangement` None:
    one cell at a time."""

    arrangement: Any = None  # sam_bench.bench.probe_choice.Arrangement, of the chosen step mode
    methods: list[str] = field(default_factory=list)  # the methods it was timed for

    def _gain(self, method: str, n: int) -> float:
        if method not in self.methods:
            return min(self._gain(m, n) for m in self.methods)
        timed = [k for k in self.arrangement.aggregate.get(method, {}) if k <= n] + [1]
        return self.arrangement.gain(method, max(timed)) or 1.0

    def _beside(self, method: str, n: int) -> tuple[float, float]:
        """(training share, evaluation share) of an evaluation beside n trainings of `method`."""
        if method not in self.methods:
            return min((self._beside(m, n) for m in self.methods), key=sum)
        timed = self.arrangement.beside_at(method, n)
        if timed is None:
            raise ValueError(f"no evaluation beside {n} or more {method} trainings was timed")
        return timed[1], timed[2]

    def shares(self, phases: list[tuple[str, str]]) -> list[float]:
        """For the cells running at once, each (method, "train" or "evaluate"): each one's speed as a share of
        its speed alone."""
        if self.arrangement is None:
            if len(phases) > 1:
                raise ValueError("cells at once need a probe's arrangement")
            return [1.0] * len(phases)
        trainers = [method for method, phase in phases if phase == "train"]
        evaluators = len(phases) - len(trainers)
        out = []
        for method, phase in phases:
            if phase == "train":
                share = self._gain(method, len(trainers)) / len(trainers)
                out.append(share * (self._beside(method, len(trainers))[0] if evaluators else 1.0))
            elif trainers:
                out.append(min(self._beside(m, len(trainers))[1] for m in trainers) / evaluators)
            else:
                out.append(1.0 / evaluators)
        return out


def _phase(model) -> str:
    return "train" if model.done_train < model.train - 1e-9 else "evaluate"


def work(queue: list, minutes: float, lanes: int = 1, speeds: Speeds | None = None) -> list[str]:
    """Spend `minutes` of a stint on the queue's runs (gpu_costs.Model: label, method, train, evaluate,
    done_train, done_evaluate, finished), `lanes` at a time, in order; what was done, one phrase per run,
    in the runs' own minutes (what each phase takes alone)."""
    speeds = speeds or Speeds()
    waiting = [m for m in queue if not m.finished]
    before = {m.label: (m.done_train, m.done_evaluate) for m in waiting}
    running: list = []
    left = minutes
    while left > 1e-9:
        while waiting and len(running) < lanes:
            running.append(waiting.pop(0))
        if not running:
            break
        phases = [(m.method, _phase(m)) for m in running]
        shares = speeds.shares(phases)
        ends = [
            (getattr(m, phase) - getattr(m, f"done_{phase}")) / share
            for m, (_, phase), share in zip(running, phases, shares, strict=True)
            if share > 0
        ]
        step = min([left, *ends])
        for m, (_, phase), share in zip(running, phases, shares, strict=True):
            total = getattr(m, phase)
            done = min(total, getattr(m, f"done_{phase}") + step * share)
            setattr(m, f"done_{phase}", total if total - done < 1e-9 else done)
        left -= step
        running = [m for m in running if not m.finished]
    done = []
    for m in queue:
        if m.label not in before:
            continue
        parts = []
        for phase, spent in zip(("train", "evaluate"), before[m.label], strict=True):
            total, now = getattr(m, phase), getattr(m, f"done_{phase}")
            take = now - spent
            if take <= 1e-9:
                continue
            whole = spent == 0 and take >= total - 1e-9
            parts.append(f"{phase} {take:.1f}" + ("" if whole else f" ({now:.1f} of {total:.1f})"))
        if parts:
            done.append(f"{m.label}: " + ", ".join(parts))
    return done


def speeds_for(choice, lanes: int) -> tuple[int, Speeds | None]:
    """`lanes` models at once and the speeds a probe's choice (probe_choice.Choice) measured for them (None for
    one at a time)."""
    return (1, None) if lanes == 1 else (lanes, Speeds(choice.arrangement, choice.methods))


def probe_pending(choice) -> bool:
    """Whether a probe's choice lacks K models at once or an evaluation beside training in its step mode."""
    timed = choice.arrangement
    return not (timed is not None and timed.aggregate and timed.training_beside)


def sentence(choice, lanes: int, probe_minutes: float) -> str:
    """What the plan counts of K models at once and of an evaluation beside training, and from what;
    `probe_minutes`: the next window's probe call, where it is still to be made."""
    mode = choice.step_mode
    if probe_pending(choice):
        return (
            f" K models at once and an evaluation beside training are not measured in {mode} steps yet: the next"
            f" window's first call measures them (`gpu_prepare.py`, {probe_minutes:.1f} minutes planned), and"
            " until K is chosen from it the windows train one model at a time."
        )
    if lanes == 1:
        return " One model at a time."
    pays = choice.beside_pays.get(min((n for n in choice.beside_pays if n >= lanes - 1), default=lanes - 1))
    gain = min(choice.arrangement.gain(m, lanes) for m in choice.methods)
    return (
        f" {lanes} models at once in {mode} steps, each at the share of its speed alone measured for what runs beside"
        f" it (`ops/remote-gpu/gpu_lanes.py`: {lanes} processes x{gain:.2f} of one for the method that gains least; an"
        " evaluation beside training at its measured shares, "
        + {True: "which pays", False: "which does not pay", None: "unjudged"}[pays]
        + "; evaluations at once share the device evenly, not measured); each stint is sized to bring back"
        f" {lanes} checkpoints ({batches_for(lanes)} batches) and the next window carries in those it stopped; a"
        " stint's work is in each model's own minutes (its speed alone)."
    )
