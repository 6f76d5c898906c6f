"""Time limits: `--max-minutes M` means "finish and save before M minutes after the command started".

The clock starts when sam_bench is first imported, before torch, CUDA initialisation and data
loading, which can take a minute on a fresh GPU machine. Work is only started when the time it is
expected to take (`fits`) still ends before the limit: a training epoch as long as the last warm
one, an evaluation chunk at the rate of the chunk before it.
"""

from __future__ import annotations

import time

STARTED = time.time()


def stop_at(max_minutes: float | None, started: float | None = None) -> float | None:
    """The `time.time()` by which work must be finished and saved, counted from `started` (default:
    the command's start; library calls pass their own start); None: no limit."""
    return None if max_minutes is None else (STARTED if started is None else started) + 60 * max_minutes


def now() -> float:
    return time.time()


def fits(stop: float | None, seconds_needed: float) -> bool:
    """Whether work expected to take `seconds_needed` from now ends before `stop`."""
    return stop is None or now() + seconds_needed <= stop
