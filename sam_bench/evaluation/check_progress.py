"""What a long check says while it measures a results file again (`verify`, the gate of every board): before each
evaluation, how many are done, the time so far, the rate and about how long is left, the time left weighed by each
evaluation's forward passes per image (attack_table.cost), an estimate."""

from __future__ import annotations

import time
from collections.abc import Callable

from sam_bench.evaluation import attack_table
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.autoattack_estimate import duration
from sam_bench.evaluation.recheck import label
from sam_bench.evaluation.results_record import Evaluation, Results


def weight(evaluation: Evaluation, num_classes: int) -> float:
    """An evaluation's forward passes per image (1 for the clean pass and an attack whose cost no table knows)."""
    if evaluation.attack == "clean":
        return 1.0
    spec = AttackSpec(evaluation.attack, evaluation.norm, float(evaluation.eps_value or 0.0), dict(evaluation.settings))
    try:
        cost = attack_table.cost(spec, num_classes)
    except (KeyError, TypeError, ValueError):  # settings an older file does not record
        cost = None
    return float(cost) if cost else 1.0


class CheckProgress:
    """`on_evaluation(name)` for a check of `results` (the spot check calls it before the clean pass, "clean", then
    before each attack by its label): one line through `say` each time, the clock read from `clock`."""

    def __init__(self, results: Results, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        classes = len(results.clean_prediction_counts or ()) or 10
        self.names = ["clean", *(label(ev) for ev in results.evaluations if ev.attack != "clean")]
        self.weights = [1.0, *(weight(ev, classes) for ev in results.evaluations if ev.attack != "clean")]
        self.say, self.clock = say, clock
        self.started: float | None = None
        self.done: list[int] = []  # indices of the evaluations started so far, in order

    def on_evaluation(self, name: str) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        index = self.names.index(name) if name in self.names else None
        count = f"[{len(self.done) + 1}/{len(self.names)}]"
        line = f"  {count} {name}"
        if self.done:
            elapsed = now - self.started
            measured = sum(self.weights[i] for i in self.done)
            left = sum(self.weights) - measured
            rate = len(self.done) / max(elapsed, 1e-9) * 60
            eta = left * elapsed / measured if measured > 0 else 0.0
            took, rest = (duration(s, "min", "h") for s in (elapsed, eta))
            line += f": {len(self.done)} measured in {took} ({rate:.1f} per min), about {rest} left"
        self.say(line)
        if index is not None:
            self.done.append(index)
