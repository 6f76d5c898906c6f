"""One record per threat model: all that sam-bench knows of a threat model besides the attacks that run in it.

After RobustBench's string-valued `ThreatModel` enum (Linf, L2, corruptions): a threat model's name is the
string that results, zoo entries, boards and recipes write. `evaluate --norm`, `zoo --threat-model`, the schemas'
enums (tests/test_evaluation_tables.py) and every question asked of a threat model's name are read from here:
adding a threat model is adding its record to TABLE (and, where no evaluator serves its `kind`, its evaluator,
sam_bench.evaluation.evaluators). Pure data in the basics layer, so that every stage may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput

# Inputs are images in [0,1] of 3 x 32 x 32 values: no two are further apart than 1 in Linf and
# sqrt(3072) (about 55.4) in L2, so a larger budget leaves the image space and measures nothing.
IMAGE_VALUES = 3 * 32 * 32
TEST_IMAGES = "test images"  # a threat model's data: the evaluation's test images as they are
NORM_BALL = "norm ball"  # the kind of the threat models whose attacks search a norm ball (clean, PGD, AutoAttack)


@dataclass(frozen=True)
class ThreatModel:
    name: str  # as results, zoo entries, boards, recipes and the CLI write it (RobustBench's ThreatModel value)
    norm: str | None  # the norm ball its attacks search (attacks/pgd.py); None: not a norm ball
    largest: float  # the largest budget that means anything for images in [0,1]
    largest_words: str  # how an error names that largest budget
    robustbench_budget: str | None  # RobustBench's leaderboard budget: only AutoAttack (standard) at it makes a
    # model_info; None: a threat model whose budget is no eps (corruptions: its budget is the corruption set)
    # The doubtful-budget rule: a budget outside [smallest_usual, largest_usual] is legal but rarely meant (a
    # budget of another threat model given to this one); each bound with why it is there
    smallest_usual: float | None = None
    smallest_usual_why: str = ""
    largest_usual: float | None = None
    largest_usual_why: str = ""
    mistaken_for: str = ""  # the likely slip a doubtful budget is, as the warning asks it
    # A budget this close to RobustBench's (a fraction of it) but not it is most likely a rounded RobustBench
    # budget (0.03 or 0.031 for Linf 8/255, 0.0314...) whose results would sit on no board; None: no such rule
    near_robustbench: float | None = None
    data: str = TEST_IMAGES  # what it is evaluated on
    # A board of this threat model (RobustBench's model_info fields): its figures, and the one that ranks it
    board_columns: tuple[str, ...] = ("clean_acc", "autoattack_acc")
    headline: str = "autoattack_acc"
    budget_words: str = "an eps"  # what its budget is, as an error that refuses another kind of budget says it
    # The paper's small budgets of this threat model, below RobustBench's, where its claim C2 compares SAM with ST
    # (standardly trained models are not yet at 0% there): each has a board of its own beside RobustBench's
    # (sam_bench.leaderboard.budgets) and the claims (sam_bench.report.claims) read them here
    small_budgets: tuple[str, ...] = ()
    kind: str = NORM_BALL  # the evaluation that measures it: the evaluator of this kind (evaluation.evaluators)

    def __post_init__(self):
        if self.headline not in self.board_columns:
            raise ValueError(f"threat model {self.name}: its headline {self.headline} is none of its board's columns")
        if self.norm is None and self.kind == NORM_BALL:
            raise ValueError(f"threat model {self.name}: no norm ball, so an evaluator of its own measures it")

    def board_eps(self) -> str:
        """RobustBench's leaderboard budget of a threat model whose budget is an eps; BadInput for one whose is not."""
        if self.robustbench_budget is None:
            raise BadInput(f"{self.name} have no eps: their budget is {self.budget_words}")
        return self.robustbench_budget

    def parse_budget(self, text: str | float, option: str = "--eps") -> float:
        """'8/255' -> 0.0313...: a number or a fraction, checked against the largest meaningful budget."""
        return self.check_budget(parse_eps(text), option)

    def check_budget(self, value: float, option: str = "--eps") -> float:
        """A budget the threat model can mean for images in [0,1] (CIFAR-sized); else BadInput. A threat model that
        is no norm ball takes no eps at all."""
        if self.norm is None:
            raise BadInput(
                f"{self.name} take no eps (got {option} {format_eps(value)}): their budget is {self.budget_words}"
            )
        if value > self.largest + 1e-12:
            raise BadInput(
                f"{option} {format_eps(value)} is beyond any two images for {self.name}; at most {self.largest_words}"
            )
        return value

    def doubtful(self, value: float) -> str | None:
        """The warning for a legal but doubtful budget, or None. eps 0 is the clean check that every attack must
        pass and is never doubtful."""
        standard = "RobustBench's standard budgets are " + _and(
            [f"{name} {budget}" for name, budget in robustbench_budgets().items()]
        )
        if self.smallest_usual is not None and 0 < value < self.smallest_usual - 1e-12:
            return (
                f"{self.name} eps {format_eps(value)} is below {format_eps(self.smallest_usual)}, "
                f"{self.smallest_usual_why}; {standard} ({self.mistaken_for})"
            )
        if self.largest_usual is not None and value > self.largest_usual + 1e-12:
            return (
                f"{self.name} eps {format_eps(value)} is above {format_eps(self.largest_usual)}, "
                f"{self.largest_usual_why}; {standard} ({self.mistaken_for})"
            )
        if self.near_robustbench is not None and self.robustbench_budget is not None:
            budget = parse_eps(self.robustbench_budget)
            if 1e-9 < abs(value - budget) < self.near_robustbench * budget:
                return (
                    f"{self.name} eps {format_eps(value)} is near RobustBench's budget {self.robustbench_budget} "
                    f"({budget:.4f}) but not it (a rounded {self.robustbench_budget}?); RobustBench's board takes "
                    f"results at {self.robustbench_budget} only"
                )
        return None


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


LINF = "Linf"
L2 = "L2"
CORRUPTIONS = "corruptions"  # RobustBench's common corruptions (CIFAR-10-C): sam_bench.corruptions

# The bounds of the doubtful-budget rule. The paper's smallest L2 budget, 16/255, is the smallest any shipped
# recipe uses (tests/test_eps_warnings.py checks it against them): an L2 ball below it (RobustBench's is 0.5, 8x
# larger) flips next to nothing, and a value such as 8/255 is most likely an Linf budget given as L2. Above
# 16/255 (twice RobustBench's 8/255) an Linf ball is beyond every published CIFAR budget, and a value such as
# 0.5 is most likely an L2 budget given as Linf.
SMALLEST_USUAL_L2 = 16 / 255
LARGEST_USUAL_LINF = 16 / 255

TABLE: dict[str, ThreatModel] = {
    LINF: ThreatModel(
        LINF,
        norm="Linf",
        largest=1.0,
        largest_words="1 (255/255): the whole [0,1] range",
        robustbench_budget="8/255",
        largest_usual=LARGEST_USUAL_LINF,
        largest_usual_why="twice RobustBench's",
        mistaken_for="an L2 budget given as Linf?",
        near_robustbench=0.10,
        small_budgets=("1/255", "2/255"),
    ),
    L2: ThreatModel(
        L2,
        norm="L2",
        largest=IMAGE_VALUES**0.5,
        largest_words=f"{IMAGE_VALUES**0.5:.1f}: the diameter of [0,1]^{IMAGE_VALUES}",
        robustbench_budget="0.5",
        smallest_usual=SMALLEST_USUAL_L2,
        smallest_usual_why="the smallest L2 budget of the paper and of any shipped recipe",
        mistaken_for="an Linf budget given as L2?",
        small_budgets=("16/255", "32/255"),
    ),
    # No norm ball: the model's accuracy on 15 corruptions at 5 severities (sam_bench.corruptions.catalogue), its
    # headline the mean over the 75, as RobustBench ranks its corruptions board
    CORRUPTIONS: ThreatModel(
        CORRUPTIONS,
        norm=None,
        largest=0.0,
        largest_words="no eps",
        robustbench_budget=None,
        data="corruption sets",
        board_columns=("clean_acc", "corruptions_acc"),
        headline="corruptions_acc",
        budget_words="the corruption set and its severities 1-5 (all 75 by default)",
        kind=CORRUPTIONS,
    ),
}


def threat_model(name: str | None) -> ThreatModel:
    """The record of a threat model by name; BadInput for a name no record has."""
    found = TABLE.get(name) if isinstance(name, str) else None
    if found is None:
        raise BadInput(f"unknown threat model {name!r}; choose one of {', '.join(TABLE)}")
    return found


def names() -> tuple[str, ...]:
    """Every threat model's name, in the order boards, reports and plots show them."""
    return tuple(TABLE)


def norm_names() -> tuple[str, ...]:
    """The threat models whose attacks search a norm ball (PGD's and AutoAttack's `norm`)."""
    return tuple(name for name, tm in TABLE.items() if tm.norm is not None)


def order(name: str | None) -> int:
    """A threat model's place in names() (unknown names last): how boards and reports sort by threat model."""
    return names().index(name) if name in TABLE else len(TABLE)


def robustbench_budgets() -> dict[str, str]:
    """{threat model: RobustBench's leaderboard budget}, for the threat models whose budget is an eps."""
    return {name: tm.robustbench_budget for name, tm in TABLE.items() if tm.robustbench_budget is not None}


def small_budgets() -> list[tuple[str, str]]:
    """The paper's small budgets, (threat model, budget), in the order its claims list them."""
    return [(name, eps) for name, tm in TABLE.items() for eps in tm.small_budgets]


def check_budget(value: float, norm: str, option: str = "--eps") -> float:
    """A budget the norm's ball can mean for images in [0,1] (CIFAR-sized); else BadInput."""
    return threat_model(norm).check_budget(value, option) if norm in TABLE else value


def doubtful_budget(value: float, norm: str | None) -> str | None:
    """The warning for a legal but doubtful budget of the threat model (ThreatModel.doubtful), or None."""
    return TABLE[norm].doubtful(value) if norm in TABLE else None
