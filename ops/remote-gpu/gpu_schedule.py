"""The windows of the plan, call by call, for ops/remote-gpu/gpu_plan.py: each window's calls sized as
ops/remote-gpu/gpu_window.py sizes them on the day (the machine's start, the data, the weights and checkpoints to
carry in, one stint in the background with its `wait`s and `send`s), and the queue's runs (gpu_costs.Model)
worked in order by the stint (ops/remote-gpu/gpu_lanes.py: K at once where a probe measured it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from gpu_costs import Model
from gpu_lanes import Speeds, speeds_for, work
from gpu_window import (
    ARRANGEMENT_PROBE_MINUTES,
    CHECKPOINT_MIB,
    GAP,
    INBOX_BATCH_MIB,
    MACHINE_START,
    PACK,
    SEND,
    WINDOW,
    TooLittleTime,
    background_minutes,
    batches_for,
)

# The window (WINDOWS.md): the machine's start before its first call (the convention WINDOWS.md
# states for the minutes left before a first call), a data call (a part of CIFAR-10 in; the last one
# unpacks: seconds), and a stint's own start (python and torch, CUDA, the data set onto the GPU, the model
# built and restored).
START = MACHINE_START
# The H200's data calls took 0.4 s of command each, 6-10 s held with the part's upload
# (benchmarks/nvidia-h200-calls.md); 0.1 minute each beside the workstation's turn. The GPU tests take no call of
# their own: they run beside the stint (`test` after `start`), on minutes the `wait` calls would hold the machine
# for anyway.
DATA_CALL = GAP + 0.1
STINT_START = 0.5
DATA_PARTS = (
    3  # ops/remote-gpu/gpu_data_parts.py cuts CIFAR-10 into 3 parts with today's tree (tests/test_gpu_plan.py checks)
)


@dataclass
class Call:
    what: str
    minutes: float
    work: list[str] = field(default_factory=list)
    stint: float = 0.0  # a `start` call's stint, in minutes
    run_weights: str = ""  # the later seed whose own run weights a `weights` call carries
    sends: int = 0  # a `start` call's `send`s: the batches its stint packs, less the one its `wait` brings
    later_seeds: list[str] = field(default_factory=list)  # a `start` call's later seeds trained: their weights back


WEIGHTS_PER_CALL = 2  # a full-width PreActResNet-18's fp16 weights (21.3 MiB): two fit beside the tree in a call
WANTED = 4  # without runs of several seeds in the queue, the windows are planned until its first four are done
MAX_WINDOWS = 40


def wanted_runs(models: list[Model]) -> list[Model]:
    """The runs the windows are planned until by default: those not yet done of every model the queue trains at
    more than one seed (the claims' runs, which the scale's work order puts first); where it has none, the first
    WANTED runs not yet done."""
    several = {m.name for m in models if not m.primary}
    claims = [m for m in models if m.name in several and not m.finished]
    return claims or [m for m in models if not m.finished][:WANTED]


def stopped_midway(models: list[Model]) -> int:
    """How many trainings a stint stopped mid-way: their checkpoints go to the next machine."""
    return sum(1 for m in models if 0 < m.done_train < m.train - 1e-9)


def inbox_calls(checkpoints: int) -> int:
    """`inbox` calls before the stint for this many checkpoints: packed in batches of INBOX_BATCH_MIB, the last
    one carried by the `start` call itself (WINDOWS.md section 3)."""
    return max(0, math.ceil(checkpoints * CHECKPOINT_MIB / INBOX_BATCH_MIB) - 1)


def plan(
    models: list[Model],
    windows: int | None = None,
    window: float = WINDOW,
    lanes: int = 1,
    speeds: Speeds | None = None,
    probe_first: bool = False,
) -> list[tuple[list[Call], list[str]]]:
    """Per window of `window` minutes: its calls, and the runs finished by its end (their labels); `windows` None:
    as many as it takes to finish `wanted_runs` (at most MAX_WINDOWS). `lanes` runs
    at once (`--parallel`) at `speeds` (gpu_lanes.py): a stint may stop as many trainings mid-way, so it is
    sized for their checkpoints to come back, and for the zoo entries and later seeds' own weights of the runs it
    trains (`sized_stint`), and the next window carries the checkpoints in, and a later seed's weights where its
    evaluation is still to finish (a `weights` call of its own).
    `probe_first`: the first window starts with the probe of K models at once (ops/remote-gpu/gpu_prepare.py)."""
    out = []
    carry = stopped_midway(models)
    wanted = wanted_runs(models)
    for _ in range(windows or MAX_WINDOWS):
        if windows is None and out and all(m.finished for m in wanted):
            break
        left = window - START
        calls = [Call("the machine starts", START)]
        if probe_first and not out:
            what = "`probe`: K models at once and an evaluation beside training (ops/remote-gpu/gpu_prepare.py)"
            calls.append(Call(what, ARRANGEMENT_PROBE_MINUTES))
        for part in range(1, DATA_PARTS + 1):
            calls.append(Call(f"`data` (part {part} of {DATA_PARTS})", DATA_CALL))
        # A run trained in an earlier window and not yet evaluated to its end is evaluated from its committed
        # weights, which the machine's copy of the tree (no .git) cannot fetch: a first seed's zoo entry (fp16,
        # WEIGHTS_PER_CALL a call, gpu_weights.py), a later seed's own run weights (fp32, not published to the zoo:
        # 42.7 MiB, one a call)
        to_evaluate = [m for m in models if m.done_train >= m.train - 1e-9 and not m.finished]
        first_seeds = sum(1 for m in to_evaluate if m.primary)
        for part in range(1, math.ceil(first_seeds / WEIGHTS_PER_CALL) + 1):
            calls.append(Call(f"`weights` (part {part}): the zoo weights of the first seeds to evaluate", DATA_CALL))
        for m in to_evaluate:
            if not m.primary:
                what = f"`weights`: {m.label}'s own run weights (fp32), to evaluate"
                calls.append(Call(what, DATA_CALL, run_weights=m.label))
        inbox = inbox_calls(carry)
        for batch in range(1, inbox + 1):
            what = "the unfinished run's checkpoint, first batch" if carry == 1 else f"{carry} unfinished runs'"
            what += "" if carry == 1 else f" checkpoints, batch {batch} of {inbox + 1}"
            calls.append(Call(f"`inbox`: {what}", DATA_CALL))
        left -= sum(c.minutes for c in calls[1:])
        # The stint runs in the background (`start`), bound by the window rather than by a command's 10
        # minutes, while `wait` calls follow one another; so one stint takes the rest of the window
        while left > 0:  # (a window too short for its data calls has none left)
            sized = sized_stint(models, left, lanes, speeds)
            if sized is None:
                break
            stint, batches = sized
            before = [dataclasses.replace(m) for m in models]
            done = work(models, stint - STINT_START, lanes, speeds)
            sends = (batches - 1) * SEND
            what = (
                f"`start`: a stint of {stint:.1f} minutes in the background; `wait` until it has packed,"
                f" then {batches - 1} `send`s"
            )
            seeds = [m.label for m in trained_in(before, models) if not m.primary]
            calls.append(
                Call(what, GAP + stint + PACK + GAP + sends, done, stint, sends=batches - 1, later_seeds=seeds)
            )
            left -= GAP + stint + PACK + GAP + sends
            if all(m.finished for m in models):
                break
        if not any(c.stint for c in calls):
            raise SystemExit(
                f"gpu_plan: a {window:g}-minute window leaves no time for a stint after the machine's start and its"
                " data calls"
            )
        carry = stopped_midway(models)
        out.append((calls, [m.label for m in models if m.finished]))
        if all(m.finished for m in models):
            break
    return out


def trained_in(before: list[Model], after: list[Model]) -> list[Model]:
    """The runs of `after` whose training a stint completed (`before`: the same runs as it started)."""
    return [
        m
        for b, m in zip(before, after, strict=True)
        if b.done_train < b.train - 1e-9 and m.done_train >= m.train - 1e-9
    ]


def sized_stint(models: list[Model], left: float, lanes: int, speeds: Speeds | None) -> tuple[float, int] | None:
    """(the stint's minutes, the batches it packs) with `left` minutes in the window, or None where none fits: sized
    as the relay sizes it (gpu_window.background_minutes) for at least the batches of `lanes` checkpoints
    (gpu_window.batches_for), and for more where the work it is planned to do packs more: each training it moves
    on and stops mid-way is a checkpoint, each first seed it trains a zoo entry (fp16), each later seed it trains
    its own run weights (fp32: not published to the zoo, they come back in the pack). More batches leave a shorter
    stint, which packs no more: the first count from there up that holds what its stint packs."""
    batches = batches_for(lanes)
    while True:
        try:
            stint = background_minutes(left, batches=batches)
        except TooLittleTime:
            return None
        trial = [dataclasses.replace(m) for m in models]
        work(trial, stint - STINT_START, lanes, speeds)
        trained = trained_in(models, trial)
        firsts = sum(1 for m in trained if m.primary)
        # the checkpoints of the trainings it moved on and stopped (one it did not touch is not packed again)
        stopped = sum(1 for b, m in zip(models, trial, strict=True) if b.done_train < m.done_train < m.train - 1e-9)
        packed = batches_for(stopped, firsts, len(trained) - firsts)
        if packed <= batches:
            return stint, batches
        batches = packed


def lanes_for(models: list[Model], choice, window: float = WINDOW) -> tuple[int, str]:
    """The K the stints run with, and a sentence where it is not the probe's: of the Ks the probe's choice took
    on its way up (`ladder`), the one whose windows finish `wanted_runs` soonest (then
    the most in the first window, then the smaller K). K at once gains what the probe measured, but each run a
    stint stops mid-way is a checkpoint (CHECKPOINT_MIB) to bring back and carry in again, in `send` and
    `inbox` calls the window pays for."""
    if choice is None or len(choice.ladder) == 1:
        return 1, ""
    outcome = {}
    for k in choice.ladder:
        windows = plan([dataclasses.replace(m) for m in models], None, window, *speeds_for(choice, k))
        outcome[k] = (len(windows), -len(windows[0][1]), k)
    best = min(outcome, key=outcome.__getitem__)
    if best == choice.parallel:
        return best, ""
    said = ", ".join(f"K={k} after {o[0]}" for k, o in outcome.items())
    return best, (
        f" The stints run K={best}, not the probe's {choice.parallel}: of its Ks, the one whose {window:g}-minute"
        f" windows finish the runs planned for soonest ({said}), as each run a stint stops"
        " mid-way is a checkpoint to bring back and carry in."
    )
