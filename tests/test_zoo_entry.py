"""The zoo entry as a typed record: every committed entry read, checked and written back byte for byte; its fields
asked by name; an entry that does not fit the schema, sits elsewhere than it says or names two sha256 refused in
one line."""

import json
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.zoo.entry import Weights, ZooEntry

ROOT = Path(__file__).parent.parent
COMMITTED = sorted((ROOT / "model_zoo").glob("*/*/*.json"))


def test_every_committed_entry_round_trips_byte_for_byte(tmp_path):
    assert COMMITTED
    for path in COMMITTED:
        entry = ZooEntry.read(path)
        out = tmp_path / path.name
        files.write_json(out, entry.to_json())  # as zoo add writes an entry
        assert out.read_bytes() == path.read_bytes(), path.name
        assert ZooEntry.of(entry.to_json()) == entry


def test_an_entry_answers_by_name():
    path = next(p for p in COMMITTED if "trained_elsewhere" not in json.loads(p.read_text()))
    raw, entry = json.loads(path.read_text()), ZooEntry.read(path)
    assert (entry.id, entry.dataset, entry.threat_model) == (path.stem, path.parent.parent.name, path.parent.name)
    assert (
        isinstance(entry.weights, Weights) and entry.weights.sha256 == raw["weights"]["sha256"] == entry.weights_sha256
    )
    assert (entry.weights.file, entry.weights.dtype, entry.weights.bytes) == (
        raw["weights"]["file"],
        raw["weights"]["dtype"],
        raw["weights"]["bytes"],
    )
    assert entry.training_config == raw["training"]["config"] and not entry.is_trained_elsewhere
    assert entry.run_weights_sha256 == raw["added"]["run_weights_sha256"]
    assert entry.relative_weights_path == f"{raw['dataset']}/{raw['threat_model']}/{raw['weights']['file']}"
    assert dict(entry) == raw and entry.path == path
    with pytest.raises(FrozenInstanceError):
        entry.id = "other"


def _copy(tmp_path, change, where=None):
    path = next(p for p in COMMITTED if "trained_elsewhere" not in json.loads(p.read_text()))
    data = json.loads(path.read_text())
    change(data)
    folder = tmp_path / (where or f"{path.parent.parent.name}/{path.parent.name}")
    folder.mkdir(parents=True)
    shutil.copy(path, folder / path.name)
    (folder / path.name).write_text(json.dumps(data))
    return folder / path.name


def test_an_edited_or_misplaced_entry_is_refused_in_one_line(tmp_path):
    edited = _copy(tmp_path / "a", lambda d: d.update(weights_sha256="0" * 64))
    with pytest.raises(SamBenchError, match="differs from weights.sha256"):
        ZooEntry.read(edited)
    misplaced = _copy(tmp_path / "b", lambda d: None, where="cifar10/L2")
    with pytest.raises(SamBenchError, match="do not match where the file is"):
        ZooEntry.read(misplaced)
    other = _copy(tmp_path / "c", lambda d: d.update(schema="sam-bench/results/v1"))
    with pytest.raises(SamBenchError, match="not a sam-bench zoo entry"):
        ZooEntry.read(other)
    broken = _copy(tmp_path / "d", lambda d: d.pop("trained_on"))
    with pytest.raises(SamBenchError, match="trained_on"):
        ZooEntry.read(broken)
