"""The normalization a model was trained with, and the one a run or a zoo entry declares checked against
it.

Normalization is inside the model, (x - mean) / std (`sam_bench.models.normalization`), in buffers that
are not saved with the weights, so that the state_dict stays exactly RobustBench's: a model is rebuilt
with the mean and std its run metadata or zoo entry declares (`arch.mean`, `arch.std`). An edit there
changes every prediction and not the weights' sha256 (std 1e9 took a model from 37% clean accuracy to
11%; mean 0 / std 1 to 18%). So the declaration is checked against what training used, known apart
from it:
- the weights file's header, where one records it (`header`: weights from elsewhere, covered by the
  weights' sha256; `zoo add` keeps a run's header in its fp16 copies);
- otherwise the training record: `sam-bench train` always normalizes with its data set family's
  published statistics (`sam_bench.data.STATS`), and the run names its family. Training does not write
  the header: its weights file stays byte for byte what it was, so that a retrained run can be compared
  with its recorded sha256.
Identity normalization (mean 0, std 1) is as legal as any other where the weights' header says the model
was trained with it. The values themselves are bounded by the schema (`run-metadata.schema.json`,
`$defs/model_spec`): a mean in [0, 1] and a std in (0, 1], what images in [0, 1] can have, identity
included.
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
