"""The boards of a kind of threat model with boards of its own (the corruptions', leaderboard/corruptions_board.py),
by the kind its record names (threat_models.ThreatModel.kind): how the generic leaderboard code (the gate,
`leaderboard add`/`render`/`submit`, `evaluate --leaderboard`) writes, renders and submits them without naming the
threat model. RobustBench's eps boards (leaderboard/entries.py) are every other threat model's."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sam_bench import threat_models
from sam_bench.evaluation.pinned import PinnedResults
from sam_bench.leaderboard import corruptions_board
from sam_bench.zoo.entry import ZooEntry


class OwnBoard(Protocol):
    """What a kind's board module offers."""

    FOLDERS: tuple[str, ...]  # its boards' folders under leaderboards/<dataset>/

    def holds(self, pinned: PinnedResults) -> bool:
        """Whether a results file holds an evaluation that goes on these boards (and on no eps board)."""

    def zoo_entry(self, pinned: PinnedResults, zoo_dir=None) -> ZooEntry:
        """The zoo entry whose weights the file measured."""

    def write(self, pinned: PinnedResults, leaderboard_dir=None, zoo_dir=None) -> tuple[Path, bool]:
        """The board entry of a file already through the gate: (its path, whether it changed)."""

    def boards(self, leaderboard_dir=None) -> list[tuple[str, str]]:
        """(dataset, board folder) of each of its boards with entries."""

    def render(self, leaderboard_dir=None, dataset: str | None = None) -> list[Path]:
        """Every one of its boards' pages, each entry checked against its results file first."""

    def submit(
        self,
        model_id: str,
        leaderboard_dir=None,
        zoo_dir=None,
        out_dir=None,
        paper: dict | None = None,
        *,
        data_dir=None,
        device: str = "cpu",
        progress=None,
        check_evidence,
    ) -> list[Path]:
        """`leaderboard submit --threat-model NAME`: what RobustBench takes for its board, written to `out_dir` once
        `check_evidence` (publication.check_evidence) measured the evidence again, or BadInput saying why."""


BOARDS: dict[str, OwnBoard] = {threat_models.CORRUPTIONS: corruptions_board}  # by kind


def own_board(name: str | None) -> OwnBoard | None:
    """The board module of the threat model `name`, or None where it has none (or no such threat model)."""
    found = threat_models.TABLE.get(name) if isinstance(name, str) else None
    return BOARDS.get(found.kind) if found is not None else None


def board_of(pinned: PinnedResults) -> OwnBoard | None:
    """The own board that a results file goes on, or None: RobustBench's eps boards."""
    return next((board for board in BOARDS.values() if board.holds(pinned)), None)
