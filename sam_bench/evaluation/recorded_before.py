"""The results files recorded before per-image draws (sam_bench/attacks/draws.py), named by sha256.

Such a file states its own circumstances (device, kernels, resumed chunks), and anyone can write those fields, so
no field may choose its rule. `recorded_before.sha256` lists every file that existed when per-image draws came
(`tools/recorded_before.py` wrote it; never added to): a listed file is checked by the rule that fits what it says,
any other file without per-image draws by the strictest (check_rules). A listed GPU file whose draws are replayed
on a CPU (cuda_draws.py) holds each of its PGD evaluations to the rates measured on that very evaluation
(`replay_chances`)."""

from __future__ import annotations

import functools
from pathlib import Path

from sam_bench.evaluation import check_statement

LIST = Path(__file__).with_name("recorded_before.sha256")


@functools.cache
def listed() -> dict[str, str]:
    """{sha256: the path the file had in the repository} of every results file recorded before per-image draws."""
    lines = LIST.read_text().splitlines()
    return dict(line.split(maxsplit=1) for line in lines if line.strip() and not line.startswith("#"))


def replay_chances(sha256: str, evaluation: str) -> tuple[float, float] | None:
    """(recorded robust, recorded fooled): the most a faithful image of each stratum of a listed GPU file's
    evaluation (named as the spot check names it) differs from its re-run on a CPU from the GPU's replayed draws,
    the 99% upper bound of what was measured on that very evaluation (`tools/recorded_before.py --checks` computes
    it from benchmarks/gpu-cpu-replayed-tolerance.log); None where it was not measured."""
    found = check_statement.recorded().get("replay chances", {}).get(sha256, {}).get(evaluation)
    return None if found is None else (float(found[0]), float(found[1]))
