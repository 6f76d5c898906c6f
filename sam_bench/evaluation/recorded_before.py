"""The results files recorded before per-image draws (sam_bench/attacks/draws.py), named by sha256.

Such a file states its own circumstances (device, kernels, resumed chunks), and anyone can write those fields, so
no field may choose its rule. `recorded_before.sha256` lists every file that existed when per-image draws came
(`tools/recorded_before.py` wrote it; never added to): a listed file is checked by the rule that fits what it says,
any other file without per-image draws by the strictest (check_rules)."""

from __future__ import annotations

import functools
from pathlib import Path

LIST = Path(__file__).with_name("recorded_before.sha256")


@functools.cache
def listed() -> dict[str, str]:
    """{sha256: the path the file had in the repository} of every results file recorded before per-image draws."""
    lines = LIST.read_text().splitlines()
    return dict(line.split(maxsplit=1) for line in lines if line.strip() and not line.startswith("#"))
