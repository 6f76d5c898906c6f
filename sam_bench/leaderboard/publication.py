"""What a board entry must stand on before it is written (`leaderboard add`) or submitted (`leaderboard submit`),
beyond a results file that agrees with itself: the file agrees with the weights it names, on a seeded sample of
every evaluation measured again (sam_bench.evaluation.spot_check), and the zoo entry's training record with the
run's log (sam_bench.zoo.training_record). Either refuses in one line; nothing is written.

`evaluate --leaderboard` and `reproduce` write their entries from results they have just measured themselves, and
`leaderboard render` only recomputes an entry from its results file (sam_bench.leaderboard.evidence): neither runs
a model again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sam_bench.evaluation import spot_check
from sam_bench.leaderboard.entries import figure_refs, results_path, update_from_results
from sam_bench.zoo import store as zoo
from sam_bench.zoo import training_record

Progress = Callable[[str], None]


def check_evidence(
    results: Path, entry: dict, *, zoo_dir=None, data_dir=None, device: str = "cpu", progress: Progress | None = None
) -> list[spot_check.Verdict]:
    """The zoo entry's training record, then the results file's every evaluation against the weights on its
    sample; the verdicts where all agree. `progress(line)` hears what is measured."""
    training_record.check_entry(entry, f"zoo entry {entry['id']}")
    if progress is not None:
        progress(f"{results}: measuring a sample of every evaluation again from {entry['id']}'s weights")
    verdicts = spot_check.spot_check(
        results,
        zoo_dir=zoo_dir,
        data_dir=data_dir,
        device=device,
        on_evaluation=None if progress is None else (lambda name: progress(f"  {name}")),
    )
    if progress is not None:
        progress(f"{results}: {spot_check.summary(verdicts)}")
    return verdicts


def add(
    results, leaderboard_dir=None, zoo_dir=None, *, data_dir=None, device: str = "cpu", progress: Progress | None = None
) -> list[Path]:
    """`leaderboard add`: the board entries of a results file (entries.update_from_results), written once every
    check of the file has passed and its evidence has been measured again (`check_evidence`)."""
    return update_from_results(
        results,
        leaderboard_dir,
        zoo_dir,
        verify=lambda entry: check_evidence(
            Path(results), entry, zoo_dir=zoo_dir, data_dir=data_dir, device=device, progress=progress
        ),
    )


def check_submission_evidence(
    info: dict, model_id: str, leaderboard_dir=None, zoo_dir=None, *, data_dir=None, device: str = "cpu", progress=None
) -> None:
    """`leaderboard submit`: every results file the entry's figures come from, measured again (`check_evidence`)."""
    entry = zoo.find_entry(model_id, zoo_dir)
    named = dict.fromkeys(file for file, _ in figure_refs(info["sam_bench"]) if file)
    for file in named:
        check_evidence(
            results_path(file, leaderboard_dir),
            entry,
            zoo_dir=zoo_dir,
            data_dir=data_dir,
            device=device,
            progress=progress,
        )
