"""Budgets and step sizes as numbers: parsed from '8/255', '0.031' or '0.5'; written back as RobustBench does.

Only the generic number parsing lives here (training's step sizes and rho-like settings read it too); what a
budget means for a threat model (its largest value, the doubtful-budget rule, RobustBench's budget) is the
threat model's record (sam_bench.threat_models)."""

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
            num, fraction, den = s.partition("/")
            value = float(num) / (float(den) if fraction else 1.0)
        except (ValueError, ZeroDivisionError):
            raise BadInput(f"invalid eps {text!r}: use a number like 0.5 or a fraction like 8/255") from None
    if not value >= 0 or value == float("inf"):
        raise BadInput(f"invalid eps {text!r}: must be a finite number >= 0")
    return value


def format_eps(value: float) -> str:
    """0.0313... -> '8/255' (when it is k/255 for a whole k), 0.5 -> '0.5'."""
    k = value * 255
    if abs(k - round(k)) < 1e-6 and round(k) != 0 and abs(value - round(value)) > 1e-9:
        return f"{round(k)}/255"
    if 0 < k < 4 and abs(4 * k - round(4 * k)) < 1e-6:  # step sizes such as 0.5/255, 0.25/255
        return f"{round(4 * k) / 4:g}/255"
    frac = Fraction(value).limit_denominator(10_000)
    return f"{float(frac):g}" if abs(float(frac) - value) < 1e-12 else repr(value)
