"""Several jobs in one process, taking turns (`reproduce --parallel K --in-process`, `train --seeds` in an
eager, static or graph step mode, evaluations side by side; docs/gpu.md). Each job runs in a lane: a thread of its
own and, on a GPU, a CUDA stream of its own; one lane runs at a time, until it passes its turn (`turn()`).

A lane computes exactly what its job computes alone: torch's global random state (the CPU's and the lane's GPU's)
and the global switches (runtime/math_mode.py) are the lane's own while it runs, saved when it passes its turn and
put back when its turn comes; every lane starts from the caller's state, and the caller gets its state back at the
end. The rest of what a job changes is per thread already (grad mode, autocast, the current stream and device). A
job that raises ends its own lane only. A turn is passed only where the job holds no lock: a lane waiting for a
lock that a waiting lane holds would wait for ever. Jobs whose threads must not share the process (torch.compile's
dynamo, torchrun's process group) are refused by their callers.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from sam_bench.runtime import math_mode

_local = threading.local()
POLL_S = 1.0  # how often the caller, waiting for a lane to end, may be interrupted (Ctrl-C)


@dataclass
class Outcome:
    """What a job came to: its return value, or the error it raised."""

    value: Any = None
    error: BaseException | None = None


def _state(device: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda, math_mode.switches()


def _set_state(state: tuple, device: torch.device) -> None:
    cpu, cuda, switches = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)
    math_mode.set_switches(switches)


class _Lane:
    def __init__(self, lanes: _Lanes, job: Callable[[], Any], stream, state: tuple, index: int):
        self.lanes, self.job, self.stream, self.state, self.index = lanes, job, stream, state, index
        self.go = threading.Event()
        self.outcome = Outcome()
        self.thread = threading.Thread(target=self._main, name=f"lane-{index}", daemon=True)  # Ctrl-C: all end

    def _main(self) -> None:
        _local.lane = self
        self._wait()
        device = self.lanes.device
        try:
            on_device = torch.cuda.device(device) if device.type == "cuda" else nullcontext()
            with on_device, torch.cuda.stream(self.stream) if self.stream is not None else nullcontext():
                if self.stream is not None:
                    self.stream.wait_stream(self.lanes.caller_stream)  # what the caller made before, first
                self.outcome.value = self.job()
        except BaseException as error:  # noqa: BLE001 - the job's outcome; the other lanes go on
            traceback.clear_frames(error.__traceback__)  # its tensors freed for the lanes that go on; lines kept
            self.outcome.error = error
        finally:
            self.lanes.end(self)

    def _wait(self) -> None:
        self.go.wait()
        self.go.clear()
        _set_state(self.state, self.lanes.device)


class _Lanes:
    """The lanes running now, in turn order. A lane that ends hands the turn to the caller, which starts the
    next job in its place or not, and gives the turn on: so the order of turns is fixed by the jobs alone."""

    def __init__(self, device: torch.device):
        self.device = device
        self.caller_stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self.lock = threading.Lock()
        self.order: list[_Lane] = []
        self.ended: queue.Queue[tuple[_Lane, int]] = queue.Queue()

    def add(self, lane: _Lane, at: int) -> None:
        """A lane into the order at `at`; it waits for its turn."""
        with self.lock:
            self.order.insert(at, lane)
        lane.thread.start()

    def give(self, at: int) -> None:
        """The turn to the lane at `at` (counted round the order), from the caller."""
        with self.lock:
            if self.order:
                self.order[at % len(self.order)].go.set()

    def pass_turn(self, lane: _Lane) -> None:
        with self.lock:
            if len(self.order) == 1:
                return  # alone: nothing to save or put back
            after = self.order[(self.order.index(lane) + 1) % len(self.order)]
            lane.state = _state(self.device)
            after.go.set()
        lane._wait()

    def end(self, lane: _Lane) -> None:
        with self.lock:
            at = self.order.index(lane)
            self.order.remove(lane)
        self.ended.put((lane, at))


def current() -> _Lane | None:
    """The lane this thread runs in; None outside lanes."""
    return getattr(_local, "lane", None)


def turn() -> None:
    """Let the next lane run (outside lanes, or alone, nothing happens); back when this lane's turn comes again."""
    lane = current()
    if lane is not None:
        lane.lanes.pass_turn(lane)


@contextmanager
def passing_turns(model: torch.nn.Module):
    """Inside the block, `model` passes its lane's turn before each forward pass (outside lanes: nothing)."""
    if current() is None:
        yield
        return
    handle = model.register_forward_pre_hook(lambda module, args: turn())
    try:
        yield
    finally:
        handle.remove()


def make_streams(device: torch.device | str, width: int) -> list:
    """A CUDA stream for each of `width` lanes on `device` (on a CPU, none: None each)."""
    device = torch.device(device)
    return [torch.cuda.Stream(device) if device.type == "cuda" else None for _ in range(width)]


def run(
    jobs: Iterable[Callable[[], Any]],
    width: int,
    device: torch.device | str = "cpu",
    go_on: Callable[[int, Outcome], bool] = lambda index, outcome: True,
    streams: list | None = None,
) -> list[Outcome]:
    """Run `jobs`, `width` at a time, each in a lane on `device` (a CUDA device: a stream per lane); the outcome of
    every job started, in order. As a lane ends, `go_on(its job's index, its outcome)` (asked in the caller's thread)
    says whether the next job starts; once it says no, the jobs left are not started. `streams` (`width` of them,
    from `make_streams`): the lanes' CUDA streams, so that calls run the same job on the same stream."""
    if width < 1:
        raise ValueError(f"lanes need a width of 1 or more, got {width}")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if current() is not None:
        raise RuntimeError("lanes cannot run inside a lane")
    lanes = _Lanes(device)
    start = _state(device)
    streams = list(streams) if streams is not None else make_streams(device, width)
    if len(streams) < width:
        raise ValueError(f"{width} lanes need {width} streams, got {len(streams)}")
    pending = iter(jobs)
    outcomes: list[Outcome] = []
    running, going = 0, True

    def start_next(at: int) -> bool:
        job = next(pending, None)
        if job is None:
            return False
        lane = _Lane(lanes, job, streams.pop(0), start, len(outcomes))
        outcomes.append(lane.outcome)
        lanes.add(lane, at)
        return True

    try:
        while running < width and start_next(running):
            running += 1
        lanes.give(0)
        while running:
            try:
                lane, at = lanes.ended.get(timeout=POLL_S)
            except queue.Empty:
                continue
            running -= 1
            streams.append(lane.stream)
            going = going and go_on(lane.index, lane.outcome)
            if going and start_next(at):
                running += 1
            lanes.give(at)  # the new lane in its place, or the one after it
    finally:
        if not running:  # (a caller interrupted while lanes run is leaving: their threads end with the process)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # every lane's work done before the caller reads what it made
            _set_state(start, device)
    return outcomes
