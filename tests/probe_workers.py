"""Step factories for the probe's worker processes in tests/test_probe.py: module-level, so that a spawned
worker finds them by name (the machinery of probe_concurrent.py without torch)."""

from __future__ import annotations

from collections.abc import Callable


def idle_step_factory() -> Callable[[], None]:
    """A step that does nothing."""
    return lambda: None


def failing_step_factory() -> Callable[[], None]:
    """A step that cannot be built (a failure reported in one line)."""
    raise RuntimeError("no such device here\nsecond line")
