"""`sam-bench bench --probe`: the schedule and the record (docs/benchmarks.md, "Picking the step mode and K").

Parts timed in rounds of rotating order within a budget; each ratio is taken from values of the same round, so no
ratio compares two different moments. No torch here; time is read from `sam_bench.runtime.clock` (tests inject theirs).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sam_bench import files, schema
from sam_bench.errors import BadInput
from sam_bench.runtime import clock

SCHEMA = "sam-bench/probe/v1"
MAX_ROUNDS = 50  # beyond this a median moves no more: the rest of the budget is left unspent


@dataclass
class Part:
    """One thing the probe times. `setup()` builds it (a model, its processes; untimed) and returns
    `run`, which does one repetition and returns its values (e.g. {"step_s": seconds per step})."""

    name: str
    setup: Callable[[], Callable[[], dict[str, float]]]
    info: dict = field(default_factory=dict)  # kind, method, mode, K ...: recorded as they are
    close: Callable[[], None] | None = None  # what setup started (worker processes), stopped at the end


@dataclass
class Ratio:
    """A ratio of two parts' values, taken in every round both were measured in."""

    name: str
    numerator: tuple[str, str]  # (part, value)
    denominator: tuple[str, str]

    @classmethod
    def of(cls, name: str, numerator: str, denominator: str, value: str = "step_s") -> Ratio:
        """The ratio of the same value of two parts."""
        return cls(name, (numerator, value), (denominator, value))


def timed(step: Callable[[], object], steps: int, sync: Callable[[], None], key: str = "step_s"):
    """A part's `run` for a step: `steps` calls, the clock read after `sync`; {key: seconds per call}."""

    def run() -> dict[str, float]:
        sync()
        start = clock.now()
        for _ in range(steps):
            step()
        sync()
        return {key: (clock.now() - start) / steps}

    return run


def run_probe(
    parts: list[Part],
    ratios: list[Ratio],
    budget_s: float,
    out: str | Path,
    environment: dict,
    settings: dict,
    not_applicable: dict[str, str] | None = None,
    max_rounds: int = MAX_ROUNDS,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Time `parts` within `budget_s` seconds from now and write the record to `out` (after the warm-up
    and after every round, atomically); the record."""
    if not budget_s > 0:
        raise BadInput(f"--budget-s must be more than 0 seconds, got {budget_s}")
    if max_rounds < 1:
        raise BadInput(f"the probe needs at least 1 round, got {max_rounds}")
    names = [p.name for p in parts]
    if len(set(names)) != len(names) or not parts:
        raise BadInput("the probe needs at least one part, each named once")
    log = log or (lambda message: None)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = clock.now()
    stop = start + budget_s
    runs: dict[str, Callable[[], dict[str, float]]] = {}
    estimate: dict[str, float] = {}
    values: dict[str, list[dict[str, float]]] = {}
    not_measured: list[str] = []
    failed: dict[str, str] = {}
    record: dict = {}

    def write(status: str) -> None:
        record.clear()
        record.update(_record(parts, ratios, values, runs, not_measured, not_applicable or {}, environment, settings))
        record.update(
            schema=SCHEMA,
            created=started_at,
            status=status,
            failed=dict(failed),
            budget={"budget_s": budget_s, "spent_s": clock.now() - start, "rounds": _rounds(values)},
        )
        schema.check("probe", record, str(out))
        files.write_json(Path(out), record)

    try:
        for part in parts:
            if clock.now() >= stop:
                not_measured.append(part.name)
                continue
            log(f"setting up {part.name}")
            try:
                run = part.setup()
                run()  # a compiled step compiles here
                began = clock.now()
                run()
            except Exception as error:  # noqa: BLE001 - a part that cannot run here is recorded, the rest goes on
                failed[part.name] = f"{type(error).__name__}: {error}".splitlines()[0]
                log(f"{part.name} failed: {failed[part.name]}")
                continue
            estimate[part.name] = clock.now() - began
            if clock.now() > stop:  # its warm-up alone took the budget: it is not timed
                not_measured.append(part.name)
                continue
            runs[part.name] = run
            values[part.name] = []
        write("running")
        last_round = sum(estimate[n] for n in runs)
        for r in range(max_rounds):
            if not runs or not clock.fits(stop, last_round):
                break
            began = clock.now()
            order = list(runs)
            for name in order[r % len(order) :] + order[: r % len(order)]:  # rotating order
                values[name].append(runs[name]())
            last_round = clock.now() - began
            left = stop - clock.now()
            more = min(max_rounds - r - 1, int(left // last_round) if last_round > 0 else max_rounds - r - 1)
            log(
                f"round {r + 1} of about {r + 1 + more}: {clock.now() - start:.0f} of {budget_s:.0f} s, "
                f"ETA {more * last_round:.0f} s"
            )
            write("running")
    finally:
        for part in parts:
            if part.close is not None:
                part.close()
    write("complete" if not not_measured and not failed else "stopped")
    return record


def _rounds(values: dict[str, list]) -> int:
    return max((len(v) for v in values.values()), default=0)


def _summary(runs: list[float]) -> dict:
    return {"runs": runs, "median": statistics.median(runs) if runs else None, "rounds": len(runs)}


def _record(parts, ratios, values, runs, not_measured, not_applicable, environment, settings) -> dict:
    measured = {}
    for part in parts:
        if part.name not in runs:
            continue
        rounds = values[part.name]
        keys = sorted({k for v in rounds for k in v})
        measured[part.name] = {**part.info, "values": {k: _summary([v[k] for v in rounds if k in v]) for k in keys}}
    out_ratios = []
    for ratio in ratios:
        (num, num_key), (den, den_key) = ratio.numerator, ratio.denominator
        if num not in runs or den not in runs:
            continue
        per_round = [
            a[num_key] / b[den_key]
            for a, b in zip(values[num], values[den], strict=False)
            if num_key in a and den_key in b and b[den_key] > 0
        ]
        out_ratios.append(
            {
                "name": ratio.name,
                "numerator": f"{num}.{num_key}",
                "denominator": f"{den}.{den_key}",
                **_summary(per_round),
            }
        )
    return {
        "environment": environment,
        "settings": settings,
        "parts": measured,
        "ratios": out_ratios,
        "not_measured": list(not_measured),
        "not_applicable": dict(not_applicable),
    }


def read(path: str | Path, error: type[BaseException] = BadInput) -> dict:
    """A probe record checked where it enters (the choice, the report, a plan that reads it)."""
    document = files.read_json(Path(path))
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise error(f"{path}: not a sam-bench probe record (schema {SCHEMA})")
    return schema.check("probe", document, str(path), error=error)
