"""How long a relay call may run, from the minutes left in the GPU window (README.md here).

The lent machine cannot know how much of its window is left: the workstation reads it before each call (the
last reply's lease.budget_left_s / 60; before a machine's first call, status's budget_left_s / 60 less
MACHINE_START) and passes it to `ops/remote-gpu/gpu_relay.sh` as `--left MINUTES`. From that and the minutes the
call has already spent on the machine, this sizes the `reproduce` call so that it, and the `send` calls for the
batches it leaves, return before the window ends and within the command limit; a call that could do nothing
useful in time is refused in one line (exit REFUSED) before it starts anything. Python's standard library only:
it runs on the GPU machine (python3 there) as well as here.

    python3 ops/remote-gpu/gpu_window.py reproduce --left 13.5 [--started EPOCH] [--batches 2] [--at-most M]
        prints reproduce's --max-minutes
    python3 ops/remote-gpu/gpu_window.py call --left 13.5
        a data, weights or inbox call (it copies a part: seconds): exit 0 if it fits

--started is when the relay call began (seconds since the epoch, `date +%s.%N`): the minutes since then are
spent already.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

WINDOW = 15.0  # minutes of device time in a window (a session's, the device's README)
COMMAND_LIMIT = 10.0  # minutes one command may run
# A machine's start, before its first call's command runs: the H200 windows measured 30-38 s from asking to the
# first command's end (benchmarks/nvidia-h200-calls.md); a minute leaves room for a slower start.
MACHINE_START = 1.0
# From reading the minutes left to the command starting on the machine: the workstation's turn and the upload of
# what the call carries (at most 64 MiB). Measured 6-10 s from one call's end to the next's; 22.5 s allows a slower
# turn (a binary fraction of a minute, so that the sums the tests check are exact).
GAP = 0.375
# After reproduce stops: its last checkpoint, `pack` of what it changed (two later seeds' fp32 weights are 85 MiB)
# and batch 1 copied to $OUT and brought back (at most 64 MiB). Measured: about 23 s for 128 MiB.
PACK = 1.0
# One `send` call, from issuing it to its files being here: a GAP, then a batch (at most 64 MiB) copied and brought
# back (measured 10-19 s, turns included).
SEND = GAP + 0.25
BATCHES = 2  # what the reproduce call packs when it does not say: two runs' own weights, 4 parts of 15 MiB a batch
MIN_REPRODUCE = 1.0  # a shorter call spends more on starting and packing than it trains or evaluates
MIN_CALL = 1.0  # a data, weights or inbox call copies a part (seconds); with under a minute left it is not worth it
REFUSED = 4  # the exit status of a call refused for want of time (gpu_relay.sh passes it on)


class TooLittleTime(Exception):
    """The call would not return in time, or would be too short to be useful: one line saying which."""


def _checked(left: float, elapsed: float) -> None:
    if not (math.isfinite(left) and left >= 0 and math.isfinite(elapsed) and elapsed >= 0):
        raise ValueError(f"minutes left and spent must be finite and not negative (left {left}, spent {elapsed})")


def reproduce_minutes(left: float, elapsed: float = 0.0, batches: int = BATCHES, at_most: float | None = None) -> float:
    """reproduce's --max-minutes in a call issued with `left` minutes in the window, `elapsed` minutes into it,
    whose pack is at most `batches` batches: the largest M such that

    - the call ends within the command limit: elapsed + M + PACK <= COMMAND_LIMIT;
    - the call and the `send` calls for batches 2..B end within the window:
      GAP + elapsed + M + PACK + (B - 1) * SEND <= left;

    at most `at_most` if given, floored to a hundredth. Raises TooLittleTime under MIN_REPRODUCE minutes."""
    _checked(left, elapsed)
    if batches < 1:
        raise ValueError(f"a pack is at least 1 batch, not {batches}")
    if at_most is not None and not at_most > 0:
        raise ValueError(f"a reproduce call of at most {at_most} minutes is none")
    sends = (batches - 1) * SEND
    longest = min(COMMAND_LIMIT - elapsed - PACK, left - GAP - elapsed - PACK - sends)
    if longest < MIN_REPRODUCE:
        raise TooLittleTime(
            f"not started: {left:.2f} minutes left ({elapsed:.2f} spent in this call) leave reproduce"
            f" {max(longest, 0):.2f} once {GAP} to start, {PACK} to pack and {batches - 1} sends of {SEND} are"
            f" allowed for: under {MIN_REPRODUCE}"
        )
    minutes = longest if at_most is None else min(longest, at_most)
    return math.floor(minutes * 100) / 100


def call_fits(left: float) -> None:
    """A data, weights or inbox call: refused when under MIN_CALL minutes would be left once it has started."""
    _checked(left, 0.0)
    if left - GAP < MIN_CALL:
        raise TooLittleTime(f"not started: {left:.2f} minutes left, under {GAP + MIN_CALL} for a call")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["reproduce", "call"])
    parser.add_argument("--left", type=float, required=True, help="minutes left in the window when the call was issued")
    parser.add_argument("--started", type=float, default=None, help="when the call began (seconds since the epoch)")
    parser.add_argument("--batches", type=int, default=BATCHES, help=f"batches the call packs (default {BATCHES})")
    parser.add_argument("--at-most", type=float, default=None, help="reproduce for at most this many minutes")
    args = parser.parse_args(argv)
    elapsed = 0.0 if args.started is None else max(0.0, (time.time() - args.started) / 60)
    try:
        if args.what == "reproduce":
            print(f"{reproduce_minutes(args.left, elapsed, args.batches, args.at_most):.2f}")
        else:
            call_fits(args.left)
    except TooLittleTime as err:
        print(f"relay: {err}", file=sys.stderr)
        return REFUSED
    except ValueError as err:
        print(f"relay: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
