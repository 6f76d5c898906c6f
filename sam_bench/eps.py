"""Perturbation budgets: parsed from '8/255', '0.031' or '0.5'; written back as RobustBench does."""

from __future__ import annotations

from fractions import Fraction

from sam_bench.errors import BadInput


def parse_eps(text: str | float) -> float:
    """'8/255' -> 0.0313..., '0.5' -> 0.5. Raises BadInput for anything else or a negative value."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip()
        try:
            if "/" in s:
                num, den = s.split("/", 1)
                value = float(num) / float(den)
            else:
                value = float(s)
        except (ValueError, ZeroDivisionError):
            raise BadInput(f"invalid eps {text!r}: use a number like 0.5 or a fraction like 8/255") from None
    if not value >= 0 or value == float("inf"):
        raise BadInput(f"invalid eps {text!r}: must be a finite number >= 0")
    return value


# Inputs are images in [0,1] of 3 x 32 x 32 values: no two are further apart than 1 in Linf and
# sqrt(3072) (about 55.4) in L2, so a larger budget leaves the image space and measures nothing.
IMAGE_VALUES = 3 * 32 * 32
LARGEST = {"Linf": 1.0, "L2": IMAGE_VALUES**0.5}


def check_budget(value: float, norm: str, option: str = "--eps") -> float:
    """A budget the norm's ball can mean for images in [0,1] (CIFAR-sized); else BadInput."""
    if norm in LARGEST and value > LARGEST[norm] + 1e-12:
        largest = (
            "1 (255/255): the whole [0,1] range"
            if norm == "Linf"
            else f"{LARGEST[norm]:.1f}: the diameter of [0,1]^{IMAGE_VALUES}"
        )
        raise BadInput(f"{option} {format_eps(value)} is beyond any two images for {norm}; at most {largest}")
    return value


# RobustBench's leaderboard budgets: only an AutoAttack (standard) result at these is a model_info entry.
ROBUSTBENCH_BUDGETS = {"Linf": "8/255", "L2": "0.5"}

# The paper's small budgets, where its claim C2 compares SAM with ST: below RobustBench's, where standardly trained
# models are not yet at 0%. The claims (sam_bench.report.claims) and the small-budget boards
# (sam_bench.leaderboard.budgets) read them here.
PAPER_SMALL_BUDGETS = (("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255"))

# Legal budgets that are rarely meant. The paper's smallest L2 budget, 16/255, is the smallest any shipped
# recipe uses (tests/test_eps_warnings.py checks it against them): an L2 ball below it (RobustBench's is
# 0.5, 8x larger) flips next to nothing, and a value such as 8/255 is most likely an Linf budget given as
# L2. Above 16/255 (twice RobustBench's 8/255) an Linf ball is beyond every published CIFAR budget, and a
# value such as 0.5 is most likely an L2 budget given as Linf.
SMALLEST_USUAL_L2 = 16 / 255
LARGEST_USUAL_LINF = 16 / 255


def doubtful_budget(value: float, norm: str | None) -> str | None:
    """The warning for a legal but doubtful budget (an L2 eps below 16/255, an Linf eps above 16/255), or
    None. eps 0 is the clean check that every attack must pass and is never doubtful."""
    linf, l2 = ROBUSTBENCH_BUDGETS["Linf"], ROBUSTBENCH_BUDGETS["L2"]
    standard = f"RobustBench's standard budgets are Linf {linf} and L2 {l2}"
    if norm == "L2" and 0 < value < SMALLEST_USUAL_L2 - 1e-12:
        return (
            f"L2 eps {format_eps(value)} is below {format_eps(SMALLEST_USUAL_L2)}, the smallest L2 budget of the "
            f"paper and of any shipped recipe; {standard} (an Linf budget given as L2?)"
        )
    if norm == "Linf" and value > LARGEST_USUAL_LINF + 1e-12:
        return (
            f"Linf eps {format_eps(value)} is above {format_eps(LARGEST_USUAL_LINF)}, twice RobustBench's; "
            f"{standard} (an L2 budget given as Linf?)"
        )
    return None


def parse_eps_list(text: str) -> list[float]:
    return [parse_eps(part) for part in str(text).split(",") if part.strip()]


def format_eps(value: float) -> str:
    """0.0313... -> '8/255' (when it is k/255 for a whole k), 0.5 -> '0.5'."""
    k = value * 255
    if abs(k - round(k)) < 1e-6 and round(k) != 0 and abs(value - round(value)) > 1e-9:
        return f"{round(k)}/255"
    if 0 < k < 4 and abs(4 * k - round(4 * k)) < 1e-6:  # step sizes such as 0.5/255, 0.25/255
        return f"{round(4 * k) / 4:g}/255"
    frac = Fraction(value).limit_denominator(10_000)
    return f"{float(frac):g}" if abs(float(frac) - value) < 1e-12 else repr(value)
