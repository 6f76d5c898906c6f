"""K concurrent processes of one step, for `sam-bench bench --probe` (issue #46 item 4).

Each worker is a process of its own (multiprocessing's spawn: nothing of the parent's CUDA state is
inherited), builds its step from a picklable factory, runs it twice untimed, then waits. A repetition
sends every worker "go" at once; each runs `steps` steps and answers with when it began and ended on
its own clock (`sam_bench.runtime.clock`). Per process: steps / its own seconds; aggregate: K x steps
over the span from the first start to the last end. Nothing changes the device's settings: the
processes are time-sliced on it as the operating system and the driver schedule them.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
from collections.abc import Callable
from typing import Any

from sam_bench.runtime import clock


def _worker(factory: Callable[[], Callable[[], object]], steps: int, commands, answers) -> None:
    try:
        step = factory()
        for _ in range(2):  # warm-up, untimed
            step()
        answers.put(("ready", 0.0, 0.0))
        while commands.get() == "go":
            start = clock.now()
            for _ in range(steps):
                step()
            answers.put(("done", start, clock.now()))
    except Exception as error:  # noqa: BLE001 - reported to the parent in one line, which raises it
        answers.put(("failed", f"{type(error).__name__}: {error}", 0.0))


class Concurrent:
    """K worker processes of one step; `start()` then `run()` per repetition, `close()` at the end."""

    def __init__(self, factory: Callable[[], Callable[[], object]], processes: int, steps: int):
        self.factory, self.processes, self.steps = factory, processes, steps
        self.workers: list = []
        self.commands: list = []
        self.answers: Any = None

    def start(self) -> Callable[[], dict[str, float]]:
        context = mp.get_context("spawn")
        self.answers = context.Queue()
        for _ in range(self.processes):
            commands = context.Queue()
            worker = context.Process(target=_worker, args=(self.factory, self.steps, commands, self.answers))
            worker.daemon = True
            worker.start()
            self.workers.append(worker)
            self.commands.append(commands)
        self._collect("ready")
        return self.run

    def _collect(self, expected: str) -> list[tuple]:
        assert self.answers is not None
        got = [self.answers.get(timeout=600) for _ in self.workers]
        for what, detail, _ in got:
            if what == "failed":
                raise RuntimeError(f"a probe worker failed: {detail}")
            assert what == expected, (what, expected)
        return got

    def run(self) -> dict[str, float]:
        for commands in self.commands:
            commands.put("go")
        spans = [(start, end) for _, start, end in self._collect("done")]
        per_process = [self.steps / max(end - start, 1e-12) for start, end in spans]
        span = max(end for _, end in spans) - min(start for start, _ in spans)
        return {
            "steps_per_s_per_process": statistics.median(per_process),
            "steps_per_s_aggregate": self.processes * self.steps / max(span, 1e-12),
        }

    def close(self) -> None:
        for commands in self.commands:
            commands.put("stop")
        for worker in self.workers:  # they hold nothing to save: a second, then ended
            worker.join(timeout=1)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
        self.workers, self.commands = [], []


def idle_step_factory() -> Callable[[], None]:
    """A step that does nothing (the tests' worker: the machinery without torch)."""
    return lambda: None
