"""An unfinished run's checkpoint kept in git between sessions, as finished runs' weights are (sam_bench.zoo.runs).

A window on the remote GPU ends on an unfinished run (README.md here), and the next window comes in another session,
whose checkout is made from git: checkpoint.pt is ignored (85 MiB at full width), so it is not there, and the
next window would train the run from its start. `keep` writes `checkpoint.json` beside an unfinished run's
metadata (file, sha256, bytes, the git blob id the commit will give it, epochs done); commit the checkpoint
once with it (`git add -f`) and remove it from the index in the next commit. `restore` puts it back from the
cache or the git history, checked against its sha256, while the run still stands where it was kept: the relay
does so before anything resumes the run (gpu_prepare.py on the workstation, before it packs the inbox; the
relay's reproduce call on the machine, which has no git and so only checks that the inbox brought it).

    python3 ops/remote-gpu/kept_checkpoint.py keep reproductions/paper-cifar10-full      # after unpacking
    python3 ops/remote-gpu/kept_checkpoint.py restore reproductions/paper-cifar10-full   # before a resume
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's sam_bench

from sam_bench import files  # noqa: E402
from sam_bench.errors import SamBenchError  # noqa: E402
from sam_bench.rundir import blobs  # noqa: E402

CHECKPOINT = "checkpoint.pt"
KEPT = "checkpoint.json"  # file, sha256, bytes, git_blob, epochs_done


def _metadata(run_dir: Path) -> dict | None:
    path = run_dir / "metadata.json"
    return files.read_json(path) if path.is_file() else None


def keep(run_dir: Path) -> dict | None:
    """Write `checkpoint.json` for an unfinished run whose checkpoint is in the tree; returns the record, or
    None when there is nothing to keep. A finished run's record is removed (its checkpoint is spent)."""
    meta, kept = _metadata(run_dir), run_dir / KEPT
    if meta is None:
        return None
    if meta.get("status") == "complete":
        kept.unlink(missing_ok=True)
        return None
    local = run_dir / CHECKPOINT
    if not local.is_file():
        return None
    data = local.read_bytes()
    epochs = int(files.torch_load(local)["epoch"])
    if epochs != meta.get("epochs_done"):
        raise SamBenchError(
            f"{local}: holds {epochs} epochs where {run_dir / 'metadata.json'} says {meta.get('epochs_done')} "
            "(a copy from another window?); not kept"
        )
    record = {
        "file": CHECKPOINT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "git_blob": blobs.git_blob_id(data),
        "epochs_done": epochs,
    }
    if not (kept.is_file() and files.read_json(kept) == record):
        files.write_json(kept, record)
    return record


def restore(run_dir: Path) -> str | None:
    """Put an unfinished run's kept checkpoint back where the tree lacks it; where it came from ("tree",
    "cache", "git"), or None when no checkpoint is kept for it. Refused in one line when the run has moved
    on since it was kept, or the checkpoint cannot be had (WeightsNotHere: a copy of the tree without .git)."""
    kept, local = run_dir / KEPT, run_dir / CHECKPOINT
    if local.is_file():
        return "tree"
    meta = _metadata(run_dir)
    if not kept.is_file() or meta is None or meta.get("status") == "complete":
        return None
    record = files.read_json(kept)
    if record.get("epochs_done") != meta.get("epochs_done"):
        raise SamBenchError(
            f"{kept}: keeps the checkpoint after {record.get('epochs_done')} epochs, but the run stands at "
            f"{meta.get('epochs_done')}: keep its newer checkpoint (kept_checkpoint.py keep), or delete {kept.name} "
            "to train the run from its start"
        )
    found, source = blobs.materialise(local, record["sha256"], record.get("git_blob"), suffix=".pt")
    if files.sha256_file(found) != record["sha256"]:
        raise SamBenchError(f"{found}: sha256 does not match {kept} (file changed or damaged)")
    if found != local:  # training overwrites it: a copy, never the cache itself
        files.atomic_write(local, lambda f: f.write(found.read_bytes()))
    return source


def lost(run_dir: Path) -> int:
    """Epochs a run stands at that no checkpoint here or kept in git can resume: what a resume would train
    again from the start (0 for a finished run, or one whose checkpoint is here or kept)."""
    meta = _metadata(run_dir)
    if meta is None or meta.get("status") == "complete":
        return 0
    if (run_dir / CHECKPOINT).is_file() or (run_dir / KEPT).is_file():
        return 0
    return int(meta.get("epochs_done") or 0)


def keep_folder(folder: Path) -> list[str]:
    """`keep` for every run of a reproduction folder; a line for each checkpoint kept."""
    said = []
    for run_dir in sorted(folder.glob("runs/*/")):
        record = keep(run_dir)
        if record is not None:
            said.append(
                f"kept {run_dir / CHECKPOINT} after {record['epochs_done']} epochs: {record['sha256'][:12]} "
                f"(git blob {record['git_blob'][:12]}, {record['bytes']:,} bytes; commit it once with git add -f)"
            )
    return said


def restore_folder(folder: Path) -> list[str]:
    """`restore` for every run of a reproduction folder; a line for each checkpoint put back, and a warning for
    each run whose epochs no checkpoint can resume (the next window would train it from its start)."""
    said = []
    for run_dir in sorted(folder.glob("runs/*/")):
        source = restore(run_dir)
        if source not in (None, "tree"):
            said.append(f"checkpoint of {run_dir.name} back from {source}")
        epochs = lost(run_dir)
        if epochs:
            said.append(
                f"warning: {run_dir.name} stands at {epochs} epochs but no checkpoint of it is here or kept in git "
                "(kept_checkpoint.py keep): the next window trains it from its start"
            )
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["keep", "restore"], help="write checkpoint.json, or put checkpoints back")
    parser.add_argument("folders", nargs="+", type=Path, help="reproduction folders (each with runs/)")
    args = parser.parse_args(argv)
    try:
        for folder in args.folders:
            if not (folder / "runs").is_dir():
                raise SamBenchError(f"{folder}: not a reproduction folder (no runs/)")
            for line in (keep_folder if args.action == "keep" else restore_folder)(folder):
                print(line)
    except SamBenchError as err:
        print(f"kept_checkpoint: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
