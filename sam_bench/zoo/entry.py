"""A zoo entry (model_zoo/<dataset>/<threat_model>/<ModelId>.json) as a typed record: checked once where it is
read, then asked by name (`entry.id`, `entry.weights.sha256`); also a read-only mapping over the file's fields,
which `to_json()` gives back as they were written (docs/zoo.md, "Entry")."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sam_bench import files, schema
from sam_bench.errors import SamBenchError

SCHEMA = "sam-bench/zoo-entry/v1"
RESTORE = "restore the entry (e.g. git checkout) or add its run again with sam-bench zoo add"


@dataclass(frozen=True)
class Weights:
    """An entry's `weights` block: the safetensors file beside the entry, its precision and size, its sha256 and
    how to find its bytes again (the git blob they were committed as, a url)."""

    file: str
    format: str
    dtype: str
    bytes: int
    sha256: str
    git_blob: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ZooEntry(Mapping):
    """One model of the zoo: where it ranks (data set, threat model), its architecture and method, its weights, and
    either the run it was trained in (`training`, its metadata, with `training_cost`) or what its importer said of
    a training done elsewhere (`trained_elsewhere`)."""

    id: str
    dataset: str
    threat_model: str
    arch: dict  # the architecture spec the model is rebuilt from (run-metadata's model_spec)
    architecture: str  # the architecture as a board names it
    method: str
    trained_on: str
    weights: Weights
    training_cost: dict
    paper: dict
    added: dict
    training: dict | None = None  # the run's metadata (None: trained elsewhere)
    trained_elsewhere: dict | None = None  # what its importer said of its training (None: trained here)
    path: Path | None = field(default=None, compare=False)
    written: dict = field(default_factory=dict, compare=False, repr=False)  # the file's fields as written

    @classmethod
    def of(cls, data: Mapping, where: str = "zoo entry", path: Path | None = None) -> ZooEntry:
        """The record of an entry's fields, refused in one line unless they fit the zoo-entry schema, sit where its
        id, data set and threat model say (when read from `path`) and name one sha256 for the weights."""
        if isinstance(data, ZooEntry):
            return data
        if isinstance(data, Mapping) and data.get("schema") != SCHEMA:
            raise SamBenchError(
                f"{where}: not a sam-bench zoo entry (schema {data.get('schema')!r}, expected {SCHEMA})"
            )
        schema.check("zoo-entry", data, where, fix=RESTORE)
        placed = (data["id"], data["dataset"], data["threat_model"])
        if path is not None and placed != (path.stem, path.parent.parent.name, path.parent.name):
            raise SamBenchError(
                f"{path}: its id/dataset/threat model ({'/'.join(placed)}) do not match where the file is; {RESTORE}"
            )
        if data["weights_sha256"] != data["weights"]["sha256"]:
            raise SamBenchError(
                f"{where}: weights_sha256 ({data['weights_sha256'][:12]}...) differs from weights.sha256 "
                f"({data['weights']['sha256'][:12]}...): the entry was edited; {RESTORE}"
            )
        given: dict[str, Any] = {
            f.name: data.get(f.name) for f in fields(cls) if f.name not in ("weights", "path", "written")
        }
        weights: dict[str, Any] = {f.name: data["weights"].get(f.name) for f in fields(Weights)}  # schema-checked
        return cls(**given, weights=Weights(**weights), path=path, written=dict(data))

    @classmethod
    def read(cls, path: str | Path) -> ZooEntry:
        """The entry file, checked as `of` checks it."""
        path = Path(path)
        return cls.of(files.read_json(path), str(path), path)

    def to_json(self) -> dict:
        """The entry's fields as its file holds them (a copy)."""
        return copy.deepcopy(self.written)

    # a read-only mapping over the file's fields
    def __getitem__(self, key: str):
        return self.written[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.written)

    def __len__(self) -> int:
        return len(self.written)

    @property
    def weights_sha256(self) -> str:
        return self.weights.sha256

    @property
    def is_trained_elsewhere(self) -> bool:
        """Trained elsewhere and imported (`sam-bench zoo import`): no run of sam-bench's own, no measured cost."""
        return self.trained_elsewhere is not None

    @property
    def training_config(self) -> dict | None:
        """The settings its run was trained with (None: trained elsewhere)."""
        return (self.training or {}).get("config")

    @property
    def run_weights_sha256(self) -> str | None:
        """The sha256 of the weights its run wrote (its own differ where they were stored as fp16)."""
        return self.added.get("run_weights_sha256")

    @property
    def relative_weights_path(self) -> str:
        """Where its weights lie in a zoo: <dataset>/<threat_model>/<file>."""
        return f"{self.dataset}/{self.threat_model}/{self.weights.file}"
