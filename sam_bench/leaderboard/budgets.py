"""The boards and their budgets. Each board ranks its models by standard AutoAttack at its own budget:

    RobustBench's budgets (Linf 8/255, L2 0.5)       the only boards `leaderboard submit` sends to RobustBench
    the paper's small budgets (Linf 1/255, 2/255;    where the paper's claim C2 compares SAM with ST: at
    L2 16/255, 32/255)                               RobustBench's budgets every ST and SAM model is at 0%

A model is ranked on a RobustBench board of its own threat model (the zoo entry's), and on every small-budget
board it has a standard AutoAttack result for, whatever norm it was trained against.

    leaderboards/<dataset>/<norm>/<ModelId>.json         RobustBench's budget: its model_info format, upstream-clean
    leaderboards/<dataset>/<norm>-<k>-255/<ModelId>.json a small budget k/255 (e.g. Linf-2-255): the same format,
                                                         its "eps" the board's budget
    leaderboards/<dataset>-<folder>.{md,html,png}        each board's pages

Only standard AutoAttack ranks a board of the real test set: a quicker version (APGD-CE + APGD-T) misses images
the standard one flips, so its rows would rank above the standard ones they are no better than. On the bundled
sample's pages, a working example apart from the real boards, a quicker version ranks too, and its row says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table
from sam_bench.threat_models import robustbench_budgets, small_budgets

SAMPLE_TEST_SET = "cifar10-sample"


@dataclass(frozen=True)
class Board:
    """One board of a data set: a norm and a budget (eps written as RobustBench writes it)."""

    norm: str
    eps: str

    @property
    def robustbench(self) -> bool:
        """One of RobustBench's own boards (what `leaderboard submit` sends)."""
        return robustbench_budgets().get(self.norm) == self.eps

    @property
    def folder(self) -> str:
        """Its entries' folder in leaderboards/<dataset>/: 'Linf' at RobustBench's budget (its layout), 'Linf-2-255'."""
        return self.norm if self.robustbench else f"{self.norm}-{self.eps.replace('/', '-')}"

    @property
    def title(self) -> str:
        return f"{self.norm} {self.eps}"

    def page(self, dataset: str, sample: bool = False) -> str:
        """The file name of its HTML page, next to the entry folders."""
        return f"{dataset}-{self.folder}{'-sample' if sample else ''}.html"

    def takes(self, attack: str, norm: str | None, eps: str | None, version: str | None, test_set: str | None) -> bool:
        """Whether an evaluation ranks this board: standard AutoAttack at its budget (on the sample any version)."""
        return (
            attack_table.is_headline(attack)
            and (norm, eps) == (self.norm, self.eps)
            and (version == "standard" or test_set == SAMPLE_TEST_SET)
        )


def all_boards() -> list[Board]:
    """Every board, RobustBench's first, then the small budgets."""
    return [Board(norm, eps) for norm, eps in [*robustbench_budgets().items(), *small_budgets()]]


def robustbench_board(norm: str) -> Board:
    return Board(norm, robustbench_budgets()[norm])


def board_named(folder: str) -> Board:
    """The board whose entries a folder holds ('Linf', 'Linf-2-255'); BadInput for a folder no board has."""
    for board in all_boards():
        if board.folder == folder:
            return board
    known = ", ".join(b.folder for b in all_boards())
    raise BadInput(f"no leaderboard is kept in a folder named {folder!r}; the boards' folders are {known}")


def board_at(norm: str | None, eps: str) -> Board | None:
    """The board of a budget, or None where no board has it."""
    return next((b for b in all_boards() if (b.norm, b.eps) == (norm, eps)), None)


def boards_of(threat_model: str) -> list[Board]:
    """The boards a model of this threat model can be ranked on: its RobustBench board and every small budget."""
    return [robustbench_board(threat_model)] + [b for b in all_boards() if not b.robustbench]


def budgets_text() -> str:
    """'Linf 8/255, 1/255, 2/255; L2 0.5, 16/255, 32/255': every board's budget, for messages."""
    by_norm: dict[str, list[str]] = {}
    for board in all_boards():
        by_norm.setdefault(board.norm, []).append(board.eps)
    return "; ".join(f"{norm} {', '.join(eps)}" for norm, eps in by_norm.items())


def destination(
    attack: str, norm: str | None, eps: str, version: str | None, dataset: str, test_set: str | None, model_norm=None
) -> tuple[Board | None, str]:
    """Said before an evaluation starts: the board its result can go on and one line that names it and its page,
    or None and a line saying why no board will take it. `model_norm`: the threat model of the model's zoo entry
    where known (a RobustBench board ranks the models of its own threat model only)."""
    what = f"{attack} {norm} {eps}" if norm else attack
    if not attack_table.is_headline(attack):
        return None, f"{what}: no board is ranked by it (each board ranks AutoAttack at its budget: {budgets_text()})"
    board = board_at(norm, eps)
    if board is None:
        return None, f"{what}: no board will take it: the boards rank standard AutoAttack at {budgets_text()}"
    if not board.takes(attack, norm, eps, version, test_set):
        return None, (
            f"{what}: no board will take it: only AutoAttack's standard version ranks a board "
            f"(this is the {version} version); run --version standard for the {dataset} {board.title} board"
        )
    if board.robustbench and model_norm not in (None, board.norm):
        return None, (
            f"{what}: no board will take it: the {board.title} board ranks {board.norm} models, this one is "
            f"{model_norm}"
        )
    where = f"leaderboards/{board.page(dataset, test_set == SAMPLE_TEST_SET)}"
    kind = "RobustBench's board" if board.robustbench else "a small-budget board (not sent to RobustBench)"
    return board, f"{what}: its result can go on the {dataset} {board.title} board, {kind}: {where}"
