"""What change a spot check of a results file refuses, for the pages that show its figures (boards, reports, the
README): "checked for changes of >= N points".

A file not on the list of those recorded before per-image draws is checked for a 1-point change of every figure in
>= 99% of checks: its pages need say nothing. For each evaluation of a listed file, `recorded_before_checks.json`
holds the smallest change, in whole points, that the rules fitting it (check_rules' RECORDED_BEFORE) refuse in
>= 99% of checks both ways, on a CPU that cannot replay the recording exactly (`tools/recorded_before.py --checks`
wrote it; tests/test_check_statement.py computes it again)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path

from sam_bench import files

CHECKS = Path(__file__).with_name("recorded_before_checks.json")


@functools.cache
def recorded() -> dict:
    """What `tools/recorded_before.py --checks` wrote: the measured rates, the chances of replayed GPU files, and
    each listed file's refused changes."""
    return json.loads(CHECKS.read_text())


def refused_changes(sha256: str | None) -> dict[str, int | None] | None:
    """{evaluation (as the spot check names it): the smallest change in points a check refuses in >= 99% of checks,
    None where no change is} of a file recorded before per-image draws; None for any other file (checked for
    1-point changes)."""
    return recorded()["files"].get(sha256 or "")


def kind(evaluation: str) -> str:
    """The kind of figure an evaluation's name gives: 'clean', 'PGD', 'AutoAttack', or its attack's name."""
    first = evaluation.split(" ")[0]
    return {"pgd": "PGD", "autoattack": "AutoAttack"}.get(first, first)


def worst(changes: Iterable[tuple[str, int | None]]) -> dict[str, int | None]:
    """{kind of figure: the largest change of its figures that must be refused} over (evaluation, change) pairs
    (None, no change refused, outweighs any number)."""
    found: dict[str, int | None] = {}
    for evaluation, change in changes:
        k = kind(evaluation)
        held = found.get(k, 0)
        if k not in found or (held is not None and (change is None or change > held)):
            found[k] = change
    return found


def words(changes: dict[str, int | None]) -> str | None:
    """'checked for changes of >= 56 points (PGD), >= 2 points (AutoAttack), 1 point (clean)', the largest first,
    kinds with the same change together ('; no change of X figures refused in 99% of checks' for a kind where no
    change is); None where every change is 1 point (nothing to say)."""
    if all(change == 1 for change in changes.values()):
        return None
    groups: dict[int, list[str]] = {}
    for k, change in sorted(((k, c) for k, c in changes.items() if c is not None), key=lambda item: -item[1]):
        groups.setdefault(change, []).append(k)
    parts = [(f">= {c} points" if c > 1 else "1 point") + f" ({', '.join(kinds)})" for c, kinds in groups.items()]
    text = "checked for changes of " + ", ".join(parts) if parts else ""
    never = [k for k, change in changes.items() if change is None]
    if never:
        text += ("; " if text else "") + f"no change of {', '.join(never)} figures refused in 99% of checks"
    return text


def of_files(paths: Iterable[Path]) -> tuple[int, str] | None:
    """(how many of the results files were recorded before per-image draws, how far a check of all their figures
    goes: `words` of the worst change of each kind), or None where every figure is checked to a point."""
    pairs: list[tuple[str, int | None]] = []
    recorded_before = 0
    for path in paths:
        changes = refused_changes(files.sha256_file(path))
        if changes is not None:
            recorded_before += 1
            pairs += list(changes.items())
    said = words(worst(pairs)) if pairs else None
    return None if said is None else (recorded_before, said)
