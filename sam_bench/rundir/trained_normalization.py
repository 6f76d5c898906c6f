"""The normalization a model was trained with, and the one a run or a zoo entry declares checked against
it (docs/zoo.md, "The declared normalization is the trained one"): known from the weights file's header where one
records it (`header`), else from the data set family's statistics that `sam-bench train` always uses.
"""

from __future__ import annotations

import json
import math

from sam_bench.data import STATS
from sam_bench.errors import SamBenchError

HEADER_KEY = "normalization"  # in the weights file's safetensors header: {"mean": [...], "std": [...]}


def header(spec: dict) -> dict[str, str]:
    """A weights file's header entry naming the normalization the model was trained with (for weights
    trained elsewhere with other statistics)."""
    return {HEADER_KEY: json.dumps({"mean": list(spec["mean"]), "std": list(spec["std"])})}


def trained_with(weights_header: dict[str, str] | None, family: str | None) -> tuple[dict, str] | None:
    """(mean and std the model was trained with, how that is known), or None where nothing says."""
    recorded = (weights_header or {}).get(HEADER_KEY)
    if recorded is not None:
        try:
            values = json.loads(recorded)
            return {"mean": [float(v) for v in values["mean"]], "std": [float(v) for v in values["std"]]}, (
                "the weights file's header"
            )
        except (ValueError, TypeError, KeyError):
            raise SamBenchError(f"the weights' header holds no readable normalization ({recorded[:60]!r})") from None
    if family in STATS:
        mean, std = STATS[family]
        return {"mean": list(mean), "std": list(std)}, f"sam-bench train's {family} statistics, as for every run"
    return None


def _same(a, b) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for x, y in zip(a, b))


def check(spec: dict, weights_header: dict[str, str] | None, family: str | None, where: str) -> None:
    """Refuse, in one line, a declared normalization (`spec`'s mean and std) other than the trained one."""
    try:
        trained = trained_with(weights_header, family)
    except SamBenchError as err:
        raise SamBenchError(f"{where}: {err}") from None
    if trained is None:
        return
    values, source = trained
    for key in ("mean", "std"):
        if not _same(spec[key], values[key]):
            raise SamBenchError(
                f"{where}: arch.{key} is {spec[key]}, but the model was trained with {key} {values[key]} "
                f"({source}); a declared normalization changes every prediction, not the weights' sha256: "
                "restore it"
            )
