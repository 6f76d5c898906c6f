"""How much a relay call may do, from the minutes left in the GPU window (WINDOWS.md, section 1).

The lent machine cannot know how much of its window is left: the workstation reads it before each call
(the previous call's reply: lease.budget_left_s / 60; `status` before the first call) and passes it to
`ops/remote-gpu/gpu_relay.sh` as `--left MINUTES`. From that, and from the minutes the call has already spent on
the machine, this plans what the call may do so that it, and the calls it leaves to make (a stint's
`send`s), return before the window ends; a call that could not do anything useful in time is refused in
one line (exit 4) before it starts anything. Python's standard library only: it runs on the GPU machine
(python3 there) as well as here, and tests/test_gpu_window.py tests the arithmetic.

    python3 ops/remote-gpu/gpu_window.py work --left 17.5 [--started EPOCH] [--batches 3] [--at-most M]
        prints the stint's --max-minutes (a stint inside the call: at most the command limit)
    python3 ops/remote-gpu/gpu_window.py start --left 17.5 [--started EPOCH] [--batches 3] [--at-most M]
        prints the --max-minutes of a stint in the background (it outlives the call: the window decides)
    python3 ops/remote-gpu/gpu_window.py wait --left 17.5 [--started EPOCH] [--at-most M]
        prints the seconds a `wait` call may wait for the background stint
    python3 ops/remote-gpu/gpu_window.py test --left 17.5 [--started EPOCH]
        prints the seconds the GPU tests may run
    python3 ops/remote-gpu/gpu_window.py call --left 17.5
        a data or inbox call: exit 0 if it fits
    python3 ops/remote-gpu/gpu_window.py sends --left 17.5 --started EPOCH --batches 4 [--planned 3]
        after a stint that packed 4 batches: a line saying whether its sends fit in what is left

--started is when the relay call began (seconds since the epoch, `date +%s.%N`): the minutes since then
are spent already. The window's figures (WINDOWS.md): 15 minutes of device time today (WINDOW), a command runs at
most 10 minutes, no machine starts with under 4 minutes left, the machine is handed back 30 s after a
command ends (the calls follow each other at once, so the idle 30 s after the last call is the only
one that is not spent on a call: nothing needs to come back after it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

WINDOW = 15.0  # minutes of device time in a window (one session; the device README: "at present ... 15 minutes")
FRESH_MACHINE = 4.0  # the device starts no machine with fewer minutes left than this
COMMAND_LIMIT = 10.0  # minutes one command may run
# A machine's start, before its first call's command runs: the first window (an H200, 2026-11-26:
# benchmarks/nvidia-h200-calls.md) held its machine 38 s beyond its first command, the start and that call's
# 16 MiB upload and return together; a minute leaves room for a slower start. The minutes left before a
# machine's first call are status's budget_left_s / 60 less this.
MACHINE_START = 1.0
# Between reading the minutes left and the command starting on the machine: the workstation's turn
# (reading the last reply, issuing the call) and the upload of what the call carries (at most 64 MiB,
# the working tree included) and its copy into the checkout. The second window (an H200, 2026-11-26:
# benchmarks/nvidia-h200-calls.md) measured 6-10 s from one call's end to the next's, a turn and a 48 MiB
# upload each; 22.5 s allows a slower turn (a binary fraction of a minute, so that the sums the tests check
# are exact). The rehearsal (ops/remote-gpu/gpu_rehearsal.py) charges it too.
GAP = 0.375
# A work call after its stint stops: the last checkpoint (85 MiB for a full-width run), `pack` of what
# the stint changed, batch 1 copied to $OUT and brought back (at most 64 MiB). The second window's stint
# packed 3 batches (128 MiB: a checkpoint and two models' weights) and its wait returned batch 1 about
# 23 s after the stint's end; a minute allows a slower disk or a longer last checkpoint.
PACK = 1.0
# K models at once and an evaluation beside training, in the full scale's step mode (graph), for ST, SAM and PGD-10
# AT (sam_bench/bench/probe_arrangement.py), and nothing else: 16 parts (K=1, 2, 4 of each method; an evaluation
# alone and beside 1 and 4 trainings: a cell's evaluation runs beside K-1 others, read at the nearest count timed
# above) and the attacks' two parts, which every CUDA probe times. One step a unit and 0.75 s a repetition keep a
# round near 13 s; the five processes' start, the builds and the two warm-up repetitions of each part take about a
# minute of the budget, which leaves about 7 rounds in 150 s. The call: python, torch and CUDA's start (outside the
# budget), the budget, the workers' ends (ops/remote-gpu/gpu_relay.sh probe sizes and stops it as the test call).
ARRANGEMENT_PROBE_BUDGET_S = 150
ARRANGEMENT_PROBE_CALL = (
    "ops/remote-gpu/gpu_relay.sh probe --left L --modes '' --methods standard,sam,at --grouped '' --concurrency 1,2,4"
    " --concurrent-methods standard,sam,at --concurrent-modes graph --beside 1,4 --steps 1 --concurrent-s 0.75"
    f" --attack-images 256 --budget-s {ARRANGEMENT_PROBE_BUDGET_S}"
)
# a turn, python's start, the budget, the workers' ends and the return
ARRANGEMENT_PROBE_MINUTES = GAP + 0.5 + ARRANGEMENT_PROBE_BUDGET_S / 60 + 0.25
# One `send` call, from issuing it to its files being here: a GAP, then copying a batch (at most 64 MiB)
# to $OUT and bringing it back (the second window's two sends: 19 s and 10 s from the call before, turns
# included).
SEND = GAP + 0.25
# How many batches a stint may pack, when the call does not say (--batches). A stint packs what it
# changed: the checkpoint of each run it stopped in (85.3 MiB for a full-width PreActResNet-18), the fp16
# zoo weights of every model it finished (21.3 MiB each) and KBs of results, logs and metadata, in parts of
# 15 MiB, 4 to a batch of 64 MiB (8 files with the manifest). A run at the paper's full scale (100 epochs
# of 50,000 images) is not expected to take under half a stint even on an H100, so allowing for two
# finished models is conservative: with one run stopped, 85.3 + 2 x 21.3 + 1 = 129 MiB is 9 parts, 3
# batches: batch 1 comes back with the work call, 2 more `send` calls. K models at once (`--parallel K`)
# may stop K runs, each with its checkpoint: `batches_for(K)`. A later seed is not published to the zoo: the
# stint brings back the fp32 weights of each one it trains (42.7 MiB, run_files.py), and the plan sizes a stint
# that trains later seeds for them (`batches_for(K, models, later_seeds)`, ops/remote-gpu/gpu_schedule.py). A
# stint that packs more says so when it ends.
CHECKPOINT_MIB = 85.3
INBOX_BATCH_MIB = 48  # a batch of checkpoints carried in (pack.py --batch-mib) beside the tree, in 64 MiB
ZOO_WEIGHTS_MIB = 21.3
RUN_WEIGHTS_MIB = 42.7  # a full-width PreActResNet-18's model.safetensors (fp32)
PART_MIB = 15
PARTS_PER_BATCH = 4


def batches_for(checkpoints: int, models: int = 2, later_seeds: int = 0) -> int:
    """The batches a stint packs with `checkpoints` runs stopped mid-way, `models` first seeds trained (their fp16
    zoo weights) and `later_seeds` later seeds trained (their own fp32 run weights)."""
    mib = checkpoints * CHECKPOINT_MIB + models * ZOO_WEIGHTS_MIB + later_seeds * RUN_WEIGHTS_MIB + 1
    return math.ceil(math.ceil(mib / PART_MIB) / PARTS_PER_BATCH)


BATCHES = batches_for(1)
MIN_STINT = 1.0  # a shorter stint spends more on starting, restoring and packing than it trains
MIN_TEST = 1.0  # the GPU tests' imports, collection and CUDA start alone take a good part of a minute
MIN_CALL = 1.0  # a data or inbox call copies a part (seconds); under a minute it would not be worth it
TEST_MARGIN = 0.5  # after the GPU tests are stopped: pytest's summary and the call's return
MIN_WAIT = 0.25  # a `wait` call shorter than this would only spend a turn
REFUSED = 4  # the exit status of a call refused for want of time (ops/remote-gpu/gpu_relay.sh passes it on)


class TooLittleTime(Exception):
    """The call would not return in time, or would be too short to be useful: one line saying which."""


def _floor(minutes: float) -> float:
    return math.floor(minutes * 100) / 100


def _checked(left: float, elapsed: float) -> None:
    if not (math.isfinite(left) and left >= 0 and math.isfinite(elapsed) and elapsed >= 0):
        raise ValueError(f"minutes left and spent must be finite and not negative (left {left}, spent {elapsed})")


def stint_minutes(left: float, elapsed: float = 0.0, batches: int = BATCHES, at_most: float | None = None) -> float:
    """The stint's --max-minutes for a work call issued with `left` minutes in the window, `elapsed`
    minutes into the call, whose stint packs at most `batches` batches: the largest stint such that

    - the call ends within the 10-minute command limit: elapsed + stint + PACK <= COMMAND_LIMIT;
    - the call and the `send` calls for batches 2..N end within the window:
      GAP + elapsed + stint + PACK + (batches - 1) * SEND <= left;
    and at most `at_most` minutes if given (a shorter stint asked for). Raises TooLittleTime when the
    first two leave under MIN_STINT minutes: the call starts nothing."""
    return _sized_stint(left, elapsed, batches, at_most, background=False)


def background_minutes(
    left: float, elapsed: float = 0.0, batches: int = BATCHES, at_most: float | None = None
) -> float:
    """The --max-minutes of a stint started in the background (`ops/remote-gpu/gpu_relay.sh start`) with `left` minutes
    in the window, `elapsed` minutes into the call, packing at most `batches` batches. The device keeps a
    process that started a session of its own (setsid) running after the call that started it returns,
    until the machine goes back; the machine stays while calls follow each other (`wait`, each at most the
    command limit), so the stint is not bound by the 10-minute limit, only by the window: the largest stint
    such that

      GAP + elapsed + stint + PACK + GAP + (batches - 1) * SEND <= left,

    the second GAP for the `wait` call that brings batch 1 back, which may have been issued just after the
    stint packed. At most `at_most` minutes if given. Raises TooLittleTime under MIN_STINT minutes."""
    return _sized_stint(left, elapsed, batches, at_most, background=True)


def _sized_stint(left: float, elapsed: float, batches: int, at_most: float | None, background: bool) -> float:
    """stint_minutes (inside the call: the command limit binds too) and background_minutes (one more GAP,
    for the wait that brings batch 1 back)."""
    _checked(left, elapsed)
    if batches < 1:
        raise ValueError(f"a stint packs at least 1 batch, not {batches}")
    if at_most is not None and not at_most > 0:
        raise ValueError(f"a stint of at most {at_most} minutes is no stint")
    sends = (batches - 1) * SEND
    longest = left - GAP - elapsed - PACK - sends - (GAP if background else 0.0)
    if not background:
        longest = min(COMMAND_LIMIT - elapsed - PACK, longest)
    if longest < MIN_STINT:
        waits = f", {GAP} for the wait that brings it back" if background else ""
        raise TooLittleTime(
            f"not started: {left:.2f} minutes left ({elapsed:.2f} spent in this call) leave a"
            f" {max(longest, 0):.2f}-minute stint once {GAP} to start, {PACK} to pack{waits} and {batches - 1}"
            f" sends of {SEND} are allowed for: under {MIN_STINT} minute"
        )
    stint = longest if at_most is None else min(longest, at_most)
    return _floor(stint)


def wait_seconds(left: float, elapsed: float = 0.0, at_most: float | None = None) -> int:
    """How long a `wait` call issued with `left` minutes in the window may wait for the background stint:
    until the command limit or the window's end, less TEST_MARGIN to copy batch 1 (or pack what the stint
    has finished so far) and return; at most
    `at_most` minutes if given. Raises TooLittleTime under MIN_WAIT minutes."""
    _checked(left, elapsed)
    if at_most is not None and not at_most > 0:
        raise ValueError(f"a wait of at most {at_most} minutes is no wait")
    minutes = min(COMMAND_LIMIT - elapsed, left - GAP - elapsed) - TEST_MARGIN
    if minutes < MIN_WAIT:
        raise TooLittleTime(
            f"not started: {left:.2f} minutes left leave a wait of {max(minutes, 0):.2f}: under {MIN_WAIT}"
        )
    if at_most is not None:
        minutes = min(minutes, at_most)
    return max(1, int(minutes * 60))


def test_seconds(left: float, elapsed: float = 0.0, at_most: float | None = None) -> int:
    """How long the GPU tests (or the probe) may run in a call issued with `left` minutes in the window:
    until the command limit or the window's end, less TEST_MARGIN for pytest's summary and the return;
    at most `at_most` minutes if given (the window's plan gives the first window's tests a share, not
    the rest of the window: the first window's ran past 170 s). Raises TooLittleTime when the time the
    window allows is under MIN_TEST minutes."""
    _checked(left, elapsed)
    if at_most is not None and not at_most > 0:
        raise ValueError(f"tests of at most {at_most} minutes are no tests")
    minutes = min(COMMAND_LIMIT - elapsed, left - GAP - elapsed) - TEST_MARGIN
    if minutes < MIN_TEST:
        raise TooLittleTime(
            f"not started: {left:.2f} minutes left leave the GPU tests {max(minutes, 0):.2f} minutes: under {MIN_TEST}"
        )
    if at_most is not None:
        minutes = min(minutes, at_most)
    return int(minutes * 60)


def call_fits(left: float) -> None:
    """A data or inbox call (it copies a part: seconds): refused when under MIN_CALL minutes would be
    left once it has started."""
    _checked(left, 0.0)
    if left - GAP < MIN_CALL:
        raise TooLittleTime(f"not started: {left:.2f} minutes left, under {GAP + MIN_CALL} for a call")


def sends_left(left: float, elapsed: float, batches: int, planned: int = BATCHES) -> str:
    """After a stint that packed `batches` batches, `elapsed` minutes into a call issued with `left`:
    one line saying whether the `send` calls for batches 2..N fit in what is left of the window."""
    _checked(left, elapsed)
    after = left - GAP - elapsed  # what the window will hold once this call has returned
    needed = (batches - 1) * SEND
    fits = max(0, int(after // SEND))
    if needed <= after:
        return f"window: about {after:.1f} minutes left after this call; its {batches - 1} sends need {needed:.1f}"
    return (
        f"window: about {after:.1f} minutes left after this call, {batches - 1} sends need {needed:.1f}:"
        f" only {min(fits, batches - 1)} fit (the stint was planned for {planned} batches)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["work", "start", "wait", "test", "call", "sends"])
    parser.add_argument("--left", type=float, required=True, help="minutes left in the window when the call was issued")
    parser.add_argument("--started", type=float, default=None, help="when the call began (seconds since the epoch)")
    parser.add_argument("--batches", type=int, default=BATCHES, help=f"batches the stint may pack (default {BATCHES})")
    parser.add_argument(
        "--at-most", type=float, default=None, help="a stint, a wait or the tests of at most this many minutes"
    )
    parser.add_argument("--planned", type=int, default=BATCHES, help="sends: the batches the stint was planned for")
    args = parser.parse_args(argv)
    elapsed = 0.0 if args.started is None else max(0.0, (time.time() - args.started) / 60)
    try:
        if args.what == "work":
            print(f"{stint_minutes(args.left, elapsed, args.batches, args.at_most):.2f}")
        elif args.what == "start":
            print(f"{background_minutes(args.left, elapsed, args.batches, args.at_most):.2f}")
        elif args.what == "wait":
            print(wait_seconds(args.left, elapsed, args.at_most))
        elif args.what == "test":
            print(test_seconds(args.left, elapsed, args.at_most))
        elif args.what == "call":
            call_fits(args.left)
        else:
            print(sends_left(args.left, elapsed, args.batches, args.planned))
    except TooLittleTime as err:
        print(f"relay: {err}", file=sys.stderr)
        return REFUSED
    except ValueError as err:
        print(f"relay: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
