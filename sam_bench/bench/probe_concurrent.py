"""Worker processes that run steps at the same time, for `sam-bench bench --probe` (probe_arrangement.py).

A `Crew` is a set of named worker processes (spawned: nothing of the parent's CUDA state is inherited), started
once and kept for every part that uses them. A worker builds the steps it is asked for (`build`) and runs one on
`run`; each counts only the units that ended before the parent's stop flag (docs/benchmarks.md says why).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sam_bench.runtime import clock

ANSWER_TIMEOUT_S = 600.0  # a build (a CUDA graph's capture, cuDNN's autotuner) or a unit that takes longer is stuck
POLL_S = 1.0  # how often the parent checks that a worker it waits for is still alive


@dataclass
class Span:
    """What one worker did in a repetition: `units` units counted from `start` to `end` (its own clock)."""

    units: int
    start: float
    end: float

    def rate(self, per_unit: float) -> float:
        """`per_unit` (images, steps) times the units counted, per second of its span."""
        return per_unit * self.units / max(self.end - self.start, 1e-12)


def _synchronize(device: str | None) -> None:
    if device is not None and device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def _worker(commands, answers, stop) -> None:
    steps: dict[str, tuple[Callable[[], object], int, str | None]] = {}
    while True:
        command = commands.get()
        if command[0] == "stop":
            return
        try:
            if command[0] == "build":
                _, key, factory, repeat, device = command
                step = factory()
                for _ in range(2):  # warm-up, untimed: autotuning, a graph's capture, a compilation
                    step()
                _synchronize(device)
                steps[key] = (step, repeat, device)
                answers.put(("ready", None))
            elif command[0] == "run":
                step, repeat, device = steps[command[1]]
                _synchronize(device)
                answers.put(("started", None))
                units, start = 0, clock.now()
                end = start
                while True:
                    for _ in range(repeat):
                        step()
                    _synchronize(device)
                    ended = clock.now()
                    if stop.is_set() and units > 0:  # it may have run past the others' stop: not counted
                        break
                    units, end = units + 1, ended
                    if stop.is_set():
                        break
                answers.put(("done", (units, start, end)))
        except Exception as error:  # noqa: BLE001 - reported to the parent in one line, which raises it
            answers.put(("failed", f"{type(error).__name__}: {error}".splitlines()[0]))


class Crew:
    """Named worker processes kept for a whole probe; `close()` stops them."""

    def __init__(self) -> None:
        self.context = mp.get_context("spawn")
        self.stop = self.context.Event()
        self.workers: dict[str, tuple[Any, Any, Any]] = {}  # name -> (process, commands, answers)
        self.built: set[tuple[str, str]] = set()

    def start(self, names: list[str]) -> None:
        """Start the workers of these names that are not running yet (all at once)."""
        for name in names:
            if name in self.workers:
                continue
            commands, answers = self.context.Queue(), self.context.Queue()
            process = self.context.Process(target=_worker, args=(commands, answers, self.stop), name=f"probe-{name}")
            process.daemon = True
            process.start()
            self.workers[name] = (process, commands, answers)

    def build(self, jobs: Sequence[tuple[str, str, Callable[[], Callable[[], object]], int, str | None]]) -> None:
        """(worker, key, factory, repeat, device): each worker builds its step under `key` (once; workers in parallel),
        `repeat` calls of it a unit, `device` synchronised after each unit (None: nothing to synchronise)."""
        self.start([worker for worker, *_ in jobs])
        sent = []
        for worker, key, factory, repeat, device in jobs:
            if (worker, key) not in self.built:
                self.workers[worker][1].put(("build", key, factory, repeat, device))
                sent.append((worker, key))
        errors = []
        for worker, key in sent:  # every answer is taken, so none is left for the next command to misread
            try:
                self._answer(worker, "ready")
                self.built.add((worker, key))
            except RuntimeError as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def run(self, assignments: list[tuple[str, str]], seconds: float) -> dict[str, Span]:
        """Run each (worker, key) at once for about `seconds` from when all have started; each worker's span."""
        if not seconds > 0:
            raise ValueError(f"a repetition of {seconds} seconds is none")
        self.stop.clear()
        for worker, key in assignments:
            self.workers[worker][1].put(("run", key))
        errors, started = [], []
        for worker, _ in assignments:
            try:
                self._answer(worker, "started")
                started.append(worker)
            except RuntimeError as error:
                errors.append(error)
        if not errors:
            time.sleep(seconds)  # the interval they all run through: the measurement itself, not a wait for a signal
        self.stop.set()
        spans = {}
        for worker in started:  # every answer is taken, so none is left for the next command to misread
            try:
                spans[worker] = Span(*self._answer(worker, "done"))
            except RuntimeError as error:
                errors.append(error)
        if errors:
            raise errors[0]
        return spans

    def _answer(self, worker: str, expected: str):
        process, _, answers = self.workers[worker]
        waited = 0.0
        while True:
            try:
                what, detail = answers.get(timeout=POLL_S)
                break
            except queue.Empty:
                waited += POLL_S
                if not process.is_alive():
                    raise RuntimeError(f"probe worker {worker} ended (exit code {process.exitcode})") from None
                if waited >= ANSWER_TIMEOUT_S:
                    raise RuntimeError(f"probe worker {worker} gave no answer in {ANSWER_TIMEOUT_S:.0f} s") from None
        if what == "failed":
            raise RuntimeError(f"probe worker {worker} failed: {detail}")
        assert what == expected, (what, expected)
        return detail

    def close(self) -> None:
        """Stop every worker (they hold nothing to save: a second, then ended); a second call does nothing."""
        for _, commands, _ in self.workers.values():
            commands.put(("stop",))
        for process, _, _ in self.workers.values():
            process.join(timeout=1)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self.workers, self.built = {}, set()
