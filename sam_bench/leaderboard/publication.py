"""What a board entry must stand on before it is written (`leaderboard add`) or submitted (`leaderboard submit`),
beyond a results file that agrees with itself: the file agrees with the weights it names, on a seeded sample of
every evaluation measured again (sam_bench.evaluation.spot_check), and the zoo entry's training record with the
run's log (sam_bench.zoo.training_record). Either refuses in one line; nothing is written.

Every path to a board goes through `add_all` (`leaderboard add`, `evaluate --leaderboard`, `reproduce`): the
results a command has just measured are checked like any other, since an evaluation resumed from its kept chunks
publishes what those chunk files say. Each file is read once (sam_bench.evaluation.pinned): the bytes measured
again are the bytes the entry is written from and whose sha256 it names. `leaderboard render` only recomputes an
entry from its results file (sam_bench.leaderboard.evidence): it runs no model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sam_bench.evaluation import per_class, results_file, spot_check
from sam_bench.evaluation.check_progress import CheckProgress
from sam_bench.evaluation.pinned import PinnedResults, pin
from sam_bench.evaluation.recheck import measured_data
from sam_bench.evaluation.results_record import Results
from sam_bench.leaderboard.entries import planned, write_entries
from sam_bench.leaderboard.own_boards import board_of
from sam_bench.zoo import training_record
from sam_bench.zoo.entry import ZooEntry

Progress = Callable[[str], None]


def check_evidence(
    results: Path | PinnedResults,
    entry: ZooEntry,
    *,
    zoo_dir=None,
    data_dir=None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> list[spot_check.Verdict]:
    """The zoo entry's training record, then every evaluation of the bytes `results` pins (a path: read once here)
    against the weights on its sample; the verdicts where all agree. `progress(line)` hears what is measured."""
    pinned = results if isinstance(results, PinnedResults) else pin(results)
    test_set = pinned.json()["dataset"]
    results_file.check_known_test_set(test_set["name"], test_set.get("sha256"), str(pinned.path))
    training_record.check_entry(entry, f"zoo entry {entry.id}")
    data = Results(pinned.json(), pinned.path)  # its per-class figures, from its outcomes and the test set's labels
    per_class.check(pinned.path, data, measured_data(pinned.path, data, data_dir).y_test)
    heard = None if progress is None else CheckProgress(data, progress).on_evaluation
    if progress is not None:
        progress(f"{pinned.path}: measuring a sample of every evaluation again from {entry.id}'s weights")
    with pinned.private_copy() as copy:
        verdicts = spot_check.spot_check(copy, zoo_dir=zoo_dir, data_dir=data_dir, device=device, on_evaluation=heard)
    if progress is not None:
        progress(f"{pinned.path}: {spot_check.summary(verdicts)}")
    return verdicts


@dataclass(frozen=True)
class Published:
    """What the gate did with one results file on one board it reaches: the entry there, and whether it changed."""

    results: Path
    entry: Path
    changed: bool


def add_all(
    results: Sequence[str | Path],
    leaderboard_dir=None,
    zoo_dir=None,
    *,
    data_dir=None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> list[Published]:
    """The one gate to a board: each file checked (schema, its own evidence, its zoo entry, its data, the model's
    training record) and measured again (`check_evidence`), all before any entry is written from those very bytes
    (entries.write_entries; a threat model's with boards of its own: its board's `write`). A file refused writes
    nothing, of any file; one the boards hold already as it would write it publishes nothing and is not measured
    again (`sam-bench verify` re-checks what is published). One `Published` per board entry a file reaches."""
    every = [pin(path) for path in results]
    own = [(one, board) for one in every if (board := board_of(one)) is not None]  # on a threat model's own boards
    pinned = [one for one in every if all(one is not mine for mine, _ in own)]
    for one, board in own:
        entry = board.zoo_entry(one, zoo_dir)
        check_evidence(one, entry, zoo_dir=zoo_dir, data_dir=data_dir, device=device, progress=progress)
    for one, (entry, standing) in zip(pinned, planned(pinned, leaderboard_dir, zoo_dir) if pinned else [], strict=True):
        if standing:  # the boards hold exactly what this file would write: nothing is published, nothing to check
            if progress is not None:
                progress(f"{one.path}: on its boards already as it is; nothing to measure again")
            continue
        check_evidence(one, entry, zoo_dir=zoo_dir, data_dir=data_dir, device=device, progress=progress)
    written = write_entries(pinned, leaderboard_dir, zoo_dir) if pinned else []
    return [Published(one.path, *board.write(one, leaderboard_dir, zoo_dir)) for one, board in own] + [
        Published(one.path, path, changed)
        for one, reached in zip(pinned, written, strict=True)
        for path, changed in reached
    ]


def add(
    results, leaderboard_dir=None, zoo_dir=None, *, data_dir=None, device: str = "cpu", progress: Progress | None = None
) -> list[Path]:
    """`add_all` of one results file: its board entries, one per board it reaches."""
    return [
        done.entry
        for done in add_all([results], leaderboard_dir, zoo_dir, data_dir=data_dir, device=device, progress=progress)
    ]
