"""An evaluation's resumable state: one JSON file of its finished chunks, each keyed by everything that decides
its result (the model, the data, the precision and math mode, the attack's settings, the batch size and the
chunk's images), so that a later call with the same settings continues where an interrupted one stopped and
a call with other settings reuses nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.evaluation.specs import AttackSpec

STATE_SCHEMA = "sam-bench/eval-state/v2"  # v2: chunks keep per-image outcomes


class ChunkState:
    def __init__(self, path: Path | None):
        self.path, self.chunks = path, {}
        if path is not None and path.is_file():
            try:
                stored = files.read_json(path)
            except SamBenchError:
                stored = {}  # a damaged state file only costs the work it held
            if isinstance(stored, dict) and stored.get("schema") == STATE_SCHEMA:
                self.chunks = dict(stored.get("chunks") or {})

    def get(self, key: str) -> dict | None:
        return self.chunks.get(key)

    def put(self, key: str, record: dict) -> None:
        self.chunks[key] = record
        if self.path is not None:
            files.write_json(self.path, {"schema": STATE_SCHEMA, "chunks": self.chunks})


def chunk_key(context: dict, spec: AttackSpec, batch_size: int, start: int, end: int) -> str:
    blob = json.dumps(
        {**context, "attack": spec.record(), "batch_size": batch_size, "start": start, "end": end}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()
