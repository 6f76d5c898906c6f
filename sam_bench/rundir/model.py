"""Rebuild a trained model from its run directory alone (weights + metadata.json). A run whose weights
were committed once and dropped from the tree (`weights.json` beside its metadata: sam_bench.zoo.runs)
gets them back from the cache or the git history (sam_bench.rundir.blobs), checked against their sha256."""

from __future__ import annotations

from pathlib import Path

import torch

from sam_bench import files, schema
from sam_bench.errors import SamBenchError
from sam_bench.models import arguments, create_model
from sam_bench.rundir import blobs, trained_normalization


def load_weights_verified(weights: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    if not weights.is_file():
        raise SamBenchError(f"{weights}: weights file not found")
    if expected_sha256 is not None and files.sha256_file(weights) != expected_sha256:
        raise SamBenchError(f"{weights}: sha256 does not match its metadata (file changed or damaged)")
    return files.load_safetensors(weights)


KEPT = "weights.json"  # a run's weights as kept in git: file, sha256, bytes, git_blob (sam_bench.zoo.runs)
REUSED = "reused.json"  # a run reused from another folder: its run directory ("from") and results file ("results")


def reused_origin(folder: Path, run_name: str, key: str) -> list[Path]:
    """Where a run of reproduction `folder` reused from another folder came from, by its reused.json's `key`
    ("from": its run directory, "results": its results file): the path as recorded and, for a relative one, the
    same path beside `folder` (a relative `reuse` entry names a folder beside this one). [] for a run trained here."""
    note = folder / "runs" / run_name / REUSED
    source = files.read_json(note).get(key) if note.is_file() else None
    if not source:
        return []
    source = Path(source)
    if source.is_absolute():
        return [source]
    return [source, folder.parent / source.parent.parent.name / source.parent.name / source.name]


def weights_path(run_dir: Path, metadata: dict) -> tuple[Path, str]:
    """(where a finished run's weights are, where they came from): its own file in the tree or, once kept
    in git and dropped from the tree, materialised from the cache or the history. Not yet verified."""
    local = run_dir / metadata["weights"]
    kept = run_dir / KEPT
    if local.is_file() or not kept.is_file():
        return local, "tree"
    record = files.read_json(kept)
    if record.get("sha256") != metadata.get("weights_sha256"):
        raise SamBenchError(f"{kept}: names other weights than {run_dir / 'metadata.json'} (edited or mixed up)")
    return blobs.materialise(local, record["sha256"], record.get("git_blob"))


def has_weights(run_dir: Path) -> bool:
    """Whether a run's weights can be had: in the tree, or kept in git (`weights.json`)."""
    return (run_dir / "model.safetensors").is_file() or (run_dir / KEPT).is_file()


def read_metadata(run_dir: Path) -> dict:
    """A run's metadata.json, refused in one line unless it fits the run-metadata schema (a hand-edited std of 0 or a
    width of "abc" must not build a model)."""
    path = run_dir / "metadata.json"
    fix = "not a run's metadata as sam-bench train writes it; restore the file or train the model again"
    return schema.check("run-metadata", files.read_json(path), str(path), fix=fix)


def build_model(spec: dict, state_dict: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
    schema.check(
        "run-metadata",
        spec,
        f"{where}: model spec",
        fix="the architecture recorded with the weights is damaged; restore it",
        ref="#/$defs/model_spec",
    )
    arguments.check(spec, where)  # the architecture's own arguments, plain data (create_model checks them too)
    model = create_model(spec)
    _check_dtypes(model.state_dict(), state_dict, where)
    state_dict = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}  # fp16 zoo copies
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise SamBenchError(f"{where}: weights do not fit architecture {spec.get('arch')} ({first})") from None
    return model.eval()


def _check_dtypes(expected: dict[str, torch.Tensor], stored: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights of another kind than the architecture's, which load_state_dict would cast without a word;
    floating point of any width is one kind (the zoo's fp16 copies)."""
    for name, value in stored.items():
        want = expected.get(name)
        if want is None:
            continue  # an unexpected name: load_state_dict's strict check says so
        same_kind = value.is_floating_point() and want.is_floating_point()
        if not same_kind and value.dtype != want.dtype:
            stored_type, wanted_type = (str(t.dtype).removeprefix("torch.") for t in (value, want))
            raise SamBenchError(
                f"{where}: weights {name} are {stored_type} where the architecture has {wanted_type}; not weights "
                "sam-bench wrote, and casting them would change them silently: restore the file or train again"
            )


def load_run(run_dir: str | Path) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on the CPU, metadata) of a finished run; sha256 checked."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SamBenchError(f"{run_dir}: not a run directory")
    metadata = read_metadata(run_dir)
    if metadata.get("status") != "complete" or "weights" not in metadata:
        raise SamBenchError(f"{run_dir}: training has not finished (resume it with sam-bench train --resume)")
    weights = weights_path(run_dir, metadata)[0]
    state = load_weights_verified(weights, metadata.get("weights_sha256"))
    model = build_model(metadata["arch"], state, str(run_dir))
    family = metadata["dataset"]["family"]
    trained_normalization.check(metadata["arch"], files.safetensors_header(weights), family, str(run_dir))
    return model, metadata
