"""The results files recorded before per-image draws (sam_bench/attacks/draws.py), named by sha256.

A results file recorded before per-image draws states its own circumstances (device, kernels, processor,
resumed chunks), and the rule a spot check holds it to was chosen by them: a GPU's file checked on a CPU is held
to a far looser rule than a CPU's. Anyone can write those fields, so no field of a file may choose its rule. The
files that existed when per-image draws came are known, byte for byte: `recorded_before.sha256` lists the sha256 of
every one (`tools/recorded_before.py` wrote it from the repository's tree at that change; results recorded since
carry `settings.draws` and are never added). A file on that list was recorded as it says, and is checked by the
rule that fits what it says (check_rules); any other file without per-image draws is held to the strictest rule a
faithful file of its format passes, whatever it says of itself.
"""

from __future__ import annotations

import functools
from pathlib import Path

LIST = Path(__file__).with_name("recorded_before.sha256")


@functools.cache
def listed() -> dict[str, str]:
    """{sha256: the path the file had in the repository} of every results file recorded before per-image draws."""
    found = {}
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sha, path = line.split(maxsplit=1)
            found[sha] = path
    return found


def is_listed(sha256: str) -> bool:
    """Whether the bytes with this sha256 are a results file recorded before per-image draws."""
    return sha256 in listed()
