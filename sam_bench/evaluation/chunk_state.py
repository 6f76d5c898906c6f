"""An evaluation's resumable state: one JSON file of its finished chunks, each keyed by everything that decides
its result, so that a later call with the same settings continues and one with other settings reuses nothing.
A stored chunk's per-image outcomes are its evidence: its counts are derived from them (`combine`), and a chunk
that disagrees with them (an edited or damaged state file) is attacked again (`disagreement` says why)."""

from __future__ import annotations

import binascii
import hashlib
import json
from pathlib import Path

import numpy as np

from sam_bench import files
from sam_bench.attacks.invariants import check_accuracies
from sam_bench.eps import format_eps
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import outcomes, per_class
from sam_bench.evaluation.specs import AttackSpec

STATE_SCHEMA = "sam-bench/eval-state/v2"  # v2: chunks keep per-image outcomes


def state_path(out) -> Path:
    """Where an evaluation into the results file `out` keeps its finished chunks (removed once `out` is written)."""
    out = Path(out)
    return out.with_name(out.stem + ".partial.json")


class ChunkState:
    """The finished chunks, and the timed probes run before chunks under a time limit (`probes`: chunk key ->
    where it ran, its images and seconds), kept so that the next call on the same device need not time the chunk
    a limit left waiting again (on a GPU such a probe costs a good part of an AutoAttack chunk)."""

    def __init__(self, path: Path | None):
        self.path, self.chunks, self.probes = path, {}, {}
        if path is not None and path.is_file():
            try:
                stored = files.read_json(path)
            except SamBenchError:
                stored = {}  # a damaged state file only costs the work it held
            if isinstance(stored, dict) and stored.get("schema") == STATE_SCHEMA:
                self.chunks = dict(stored.get("chunks") or {})
                self.probes = {k: v for k, v in dict(stored.get("probes") or {}).items() if _probe_ok(v)}

    def put(self, key: str, record: dict) -> None:
        self.chunks[key] = record
        self._write()

    def put_probe(self, key: str, where: str, images: int, seconds: float) -> None:
        self.probes[key] = {"where": where, "images": images, "seconds": seconds}
        self._write()

    def probe_seconds(self, keys: list[str]) -> float | None:
        """What the timed probes before these chunks took, wherever they ran; None where none ran (no time limit)."""
        probed = [self.probes[k]["seconds"] for k in keys if k in self.probes]
        return sum(probed) if probed else None

    def _write(self) -> None:
        if self.path is not None:
            files.write_json(self.path, {"schema": STATE_SCHEMA, "chunks": self.chunks, "probes": self.probes})


def _probe_ok(probe) -> bool:
    """A stored probe as put_probe writes it (an edited one is dropped: the chunk is timed again)."""
    return (
        isinstance(probe, dict)
        and isinstance(probe.get("where"), str)
        and isinstance(probe.get("images"), int)
        and probe["images"] > 0
        and isinstance(probe.get("seconds"), (int, float))
        and probe["seconds"] >= 0
    )


def combine(
    spec: AttackSpec, chunks: list[dict], clean_correct: np.ndarray, labels: np.ndarray, num_classes: int, warn
) -> dict:
    """One attack's results entry from its chunks. Its counts are derived from the evidence, never read: the
    robust images from the chunks' per-image outcomes, the clean ones from this evaluation's clean pass
    (`clean_correct`, over the attack's images), the per-class accuracies from both and the true labels."""
    correct = outcomes.concatenate([c["correct"] for c in chunks])
    robust_flags = outcomes.decode(correct)
    n = int(robust_flags.size)
    clean, robust = int(clean_correct.sum()), int(robust_flags.sum())
    check_accuracies(clean, robust, spec.eps)
    reported = None
    if all(c["reported_correct"] is not None for c in chunks):
        reported = sum(c["reported_correct"] for c in chunks)
        disagree = sum(c["disagreements"] for c in chunks)
        if disagree:
            warn(
                f"{spec.attack} {spec.norm} {format_eps(spec.eps)}: the attack counts {reported} of {n} examples "
                f"robust, re-scoring its adversarial examples counts {robust} ({disagree} disagree); "
                "the re-scored number is reported"
            )
    breakdown = None
    if all(c["breakdown"] is not None for c in chunks):
        breakdown = {k: sum(c["breakdown"][k] for c in chunks) / n for k in chunks[0]["breakdown"]}
    for message in dict.fromkeys(m for c in chunks for m in c["warnings"]):
        warn(message)
    return {
        **spec.record(),
        "clean_acc": clean / n,
        "robust_acc": robust / n,
        "attack_reported_acc": None if reported is None else reported / n,
        "per_class_robust_acc": per_class.accuracies(robust_flags, labels, num_classes),
        "breakdown": breakdown,
        "max_perturbation": max(c["max_perturbation"] for c in chunks),
        "n_examples": n,
        "seconds": sum(c["seconds"] for c in chunks),
        "cpu_seconds": sum(c.get("cpu_seconds", 0.0) for c in chunks),  # chunks kept from before it existed: 0
        "outcomes": correct,
    }


def key_of(decides: dict) -> str:
    """A chunk's key in the state file: the sha256 of everything that decides its outcomes."""
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()


def chunk_key(context: dict, spec: AttackSpec, batch_size: int, start: int, end: int) -> str:
    return key_of({**context, "attack": spec.record(), "batch_size": batch_size, "start": start, "end": end})


def disagreement(record: dict, start: int, end: int, clean_correct: np.ndarray) -> str | None:
    """Why a stored chunk of images start..end-1 cannot be taken as it is, or None when it can: its outcomes must
    cover exactly its images, agree with its stored counts and leave correct no image this evaluation's clean
    pass (`clean_correct`, over the same images) got wrong."""
    try:
        flags = outcomes.decode(record["correct"])
        first = int(record["correct"]["start"])
    except (KeyError, TypeError, ValueError, binascii.Error, SamBenchError):
        return "holds no readable per-image outcomes"
    if first != start or flags.size != end - start or record.get("n") != end - start:
        return f"holds outcomes of images {first}..{first + flags.size - 1}, not of its {end - start} images"
    if record.get("robust_correct") != int(flags.sum()):
        return f"counts {record.get('robust_correct')} robust images, its per-image outcomes {int(flags.sum())}"
    if np.any(flags & ~clean_correct):
        return "counts images robust that the clean pass gets wrong"
    if record.get("clean_correct") != int(clean_correct.sum()):
        return f"counts {record.get('clean_correct')} clean images correct, the clean pass {int(clean_correct.sum())}"
    return None
