"""Every trained model of a reproduction kept, not only the first seeds the zoo publishes: `keep` writes
`weights.json` (sha256, git blob id) beside a finished run's metadata, so that its weights, committed once and
dropped from the tree, load from the cache or git history (docs/zoo.md, "Model zoo"); `verify` checks that every
results file's weights can be had; `restore` takes lost weights back only from a bit-identical retrain.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.rundir import blobs
from sam_bench.rundir.model import KEPT, reused_origin, weights_path
from sam_bench.zoo import store


def keep(run_dir: Path) -> dict | None:
    """Write `weights.json` for a finished run whose weights are in the tree and match its metadata; the record, or
    None when there is nothing to keep. An existing record for the same weights is left as it is."""
    meta_path = run_dir / "metadata.json"
    if not meta_path.is_file():
        return None
    meta = files.read_json(meta_path)
    local = run_dir / str(meta.get("weights") or "model.safetensors")
    if meta.get("status") != "complete" or not local.is_file():
        return None
    data = local.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != meta.get("weights_sha256"):
        raise SamBenchError(f"{local}: sha256 does not match {meta_path} (file changed or damaged); not kept")
    record = {"file": local.name, "sha256": sha, "bytes": len(data), "git_blob": blobs.git_blob_id(data)}
    kept = run_dir / KEPT
    if not (kept.is_file() and files.read_json(kept) == record):
        files.write_json(kept, record)
    return record


def keep_folder(folder: Path) -> list[tuple[Path, dict]]:
    """`keep` for every run of a reproduction folder; (run directory, record) for each kept. Runs whose weights
    were lost take a bit-identical retrain's first: `restore_folder`."""
    if not (folder / "runs").is_dir():
        raise BadInput(f"{folder}: not a reproduction folder (no runs/)")
    return [(run, record) for run in sorted((folder / "runs").iterdir()) if (record := keep(run)) is not None]


def restore_folder(folder: Path, restored_from: Path) -> list[Path]:
    """`restore` for every run of a reproduction folder from `restored_from`'s run of the same name."""
    for where in (folder, restored_from):
        if not (where / "runs").is_dir():
            raise BadInput(f"{where}: not a reproduction folder (no runs/)")
    return [run for run in sorted((folder / "runs").iterdir()) if restore(run, restored_from / "runs" / run.name)]


def restore(run_dir: Path, retrained: Path) -> bool:
    """Copy a retrained run's weights into `run_dir` when it has none and they have its recorded sha256."""
    meta_path, weights = run_dir / "metadata.json", retrained / "model.safetensors"
    if not meta_path.is_file() or not weights.is_file():
        return False
    meta = files.read_json(meta_path)
    local = run_dir / str(meta.get("weights") or "model.safetensors")
    if local.is_file() or (run_dir / KEPT).is_file() or files.sha256_file(weights) != meta.get("weights_sha256"):
        return False
    files.atomic_write(local, lambda f: f.write(weights.read_bytes()))
    return True


def verify(folder: Path, zoo_dir=None) -> list[tuple[str, bool, str]]:
    """(results file, ok, message) for every results file of a reproduction folder: the weights it names can be had
    (the run's own, in the tree or kept in git, or the zoo's) and have that sha256."""
    if not (folder / "results").is_dir():
        raise BadInput(f"{folder}: not a reproduction folder (no results/)")
    report = []
    for path in sorted((folder / "results").glob("*.json")):
        name = str(path.relative_to(folder))
        try:
            report.append((name, *_verify_one(folder, files.read_json(path), zoo_dir)))
        except SamBenchError as err:
            report.append((name, False, str(err)))
    return report


def _verify_one(folder: Path, results: dict, zoo_dir) -> tuple[bool, str]:
    sha = (results.get("model") or {}).get("weights_sha256")
    run = (results.get("reproduce") or {}).get("run")
    run_dir = folder / "runs" / str(run)
    # the run's own weights; for a run reused from another folder (its reused.json), that folder's run's
    for candidate in [run_dir, *reused_origin(folder, str(run), "from")] if run else []:
        found = _run_weights(candidate, sha)
        if found is not None:
            return found
    for entry in store.list_entries(zoo_dir=zoo_dir):
        if sha in (entry.weights_sha256, entry.run_weights_sha256):
            path, source = store.weights_file(entry, zoo_dir)
            ok = files.sha256_file(path) == entry.weights.sha256
            return ok, f"zoo entry {entry.id}: {path} ({source})" + ("" if ok else ": sha256 does not match")
    return False, (
        f"weights {str(sha)[:12]} are not kept: not in {run_dir} (tree or {KEPT}), nor in the zoo "
        "(a later seed trained before every run's weights were kept)"
    )


def _run_weights(run_dir: Path, sha: str | None) -> tuple[bool, str] | None:
    """(ok, where) when the finished run in `run_dir` made the weights `sha` and they can be had; else None."""
    if not (run_dir / "metadata.json").is_file():
        return None
    meta = files.read_json(run_dir / "metadata.json")
    if meta.get("weights_sha256") != sha or meta.get("status") != "complete":
        return None
    try:
        path, source = weights_path(run_dir, meta)
    except SamBenchError:
        return None  # not kept with the run: perhaps in the zoo
    if not path.is_file():
        return None
    ok = files.sha256_file(path) == sha
    return ok, f"{path} ({source})" + ("" if ok else ": sha256 does not match the results")
