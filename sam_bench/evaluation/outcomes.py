"""Per-image outcomes: which test images an evaluation classified correctly, as a compact record, so that two
evaluations on the same images can be compared image by image later without running anything again:

    {"start": 0, "n": 1000, "encoding": "packbits-base64", "bits": "..."}

`bits` is numpy's `packbits` of the correct/incorrect vector (first image in the high bit), base64-encoded; the
record covers test images `start` .. `start + n - 1` in the data set's order."""

from __future__ import annotations

import base64

import numpy as np

from sam_bench.errors import SamBenchError

ENCODING = "packbits-base64"


def encode(correct, start: int = 0) -> dict:
    """The record for a boolean vector (numpy array, list or torch tensor) of correct predictions."""
    flags = np.asarray(correct.cpu() if hasattr(correct, "cpu") else correct, dtype=bool).ravel()
    return {
        "start": int(start),
        "n": int(flags.size),
        "encoding": ENCODING,
        "bits": base64.b64encode(np.packbits(flags).tobytes()).decode("ascii"),
    }


def decode(record: dict) -> np.ndarray:
    """The boolean vector a record holds (one entry per image, from the record's `start`)."""
    if not isinstance(record, dict) or record.get("encoding") != ENCODING:
        encoding = record.get("encoding") if isinstance(record, dict) else record
        raise SamBenchError(f"per-image outcomes in an unknown encoding ({encoding!r})")
    packed = np.frombuffer(base64.b64decode(record["bits"]), dtype=np.uint8)
    n = int(record["n"])
    if packed.size != (n + 7) // 8:
        raise SamBenchError(f"per-image outcomes hold {packed.size} bytes for {n} images")
    return np.unpackbits(packed, count=n).astype(bool)


def concatenate(records: list[dict]) -> dict:
    """One record from consecutive ones (chunks of an evaluation, in order)."""
    start = records[0]["start"]
    expected = start
    for r in records:
        if r["start"] != expected:
            raise SamBenchError(
                f"per-image outcomes are not consecutive: a record starts at {r['start']}, expected {expected}"
            )
        expected += r["n"]
    return encode(np.concatenate([decode(r) for r in records]), start)


def aligned(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """The two outcome vectors over the images both records cover (same data set assumed)."""
    lo = max(a["start"], b["start"])
    hi = min(a["start"] + a["n"], b["start"] + b["n"])
    if hi <= lo:
        raise SamBenchError("the two evaluations share no test images")
    va, vb = decode(a), decode(b)
    return va[lo - a["start"] : hi - a["start"]], vb[lo - b["start"] : hi - b["start"]]
