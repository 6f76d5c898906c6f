"""Work that travels in parts: `pack` turns files and folders (a run directory, a zoo entry with its
weights, a reproduction folder, an evaluation's saved state) into parts of at most a given size,
grouped into batches of at most a given number of files and bytes, with a manifest; `unpack`
checks every part against the manifest, rebuilds the files, checks each of them, and only then
moves them into place.

Made for the remote GPU machine, which sends back at most 8 files of 16 MiB (64 MiB together) per
command (README.md here). The command-line skins are pack.py and unpack.py beside this file.

Layout of pack's output folder:
  batch-1/<name>-<id>.manifest.json   the manifest; every batch holds a copy, so any batch names the whole
  batch-1/<name>-<id>.part-001 ...    the parts: one uncompressed tar stream, cut in order
  batch-2/...

The manifest records the sha256 and size of every part, of the whole stream and of every file.
The pack's id (random) is in every file name, so a part of another pack is never taken for one of
this pack's. Paths inside are relative to the root pack was given (by default the working
directory), which is where unpack puts them back.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from run_files import finished_run, published_run_weights

from sam_bench import files, schema
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.jobs import lease

FORMAT = "sam-bench/pack/v1"
# The manifest's schema (JSON Schema, checked by sam_bench.schema where a manifest enters: unpack)
MANIFEST_SCHEMA = Path(__file__).with_name("pack-manifest.schema.json")
MIB = 1 << 20
# What the remote GPU machine sends back per command: 8 files of at most 16 MiB, 64 MiB together.
# Parts of 15 MiB leave room below the per-file limit.
DEFAULT_PART_MIB = 15.0
DEFAULT_BATCH_FILES = 8
DEFAULT_BATCH_MIB = 64.0


@dataclass
class Packed:
    """What pack wrote: the manifest and the batch folders, in the order to bring them back."""

    manifest: dict
    batches: list[Path]

    def summary(self) -> str:
        total = self.manifest["archive"]["bytes"]
        lines = [
            f"packed {len(self.manifest['files'])} files ({total / MIB:.1f} MiB) as "
            f"{len(self.manifest['parts'])} parts in {len(self.batches)} batches:"
        ]
        for folder in self.batches:
            inside = sorted(folder.iterdir())
            size = sum(p.stat().st_size for p in inside)
            lines.append(f"  {folder}: {len(inside)} files, {size / MIB:.1f} MiB")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# pack


def _transient(file: Path) -> bool:
    """A claim (a cell's or a lock's) or its take-over guard, or a file atomic_write is writing: it means nothing
    on the machine a pack goes to."""
    return lease.is_claim(file) or files.is_temporary(file)


def _modified_since(file: Path, marker_ns: int) -> bool:
    """Whether `file` was modified since the marker was touched (`marker_ns`, its mtime in nanoseconds); False for
    a file another process removed since it was listed. A file stamped with the marker's own time counts: the
    kernel stamps files from a clock that advances once a tick (milliseconds), so a file written just after the
    marker can carry the marker's very time, and leaving it out would lose it (bringing one written just before
    twice is harmless: unpacked, it is identical)."""
    try:
        return file.stat().st_mtime_ns >= marker_ns
    except FileNotFoundError:
        return False


def _members(
    paths: list[Path],
    root: Path,
    exclude: list[str],
    newer_than_ns: int | None = None,
    drop_finished_checkpoints: bool = False,
    drop_published_run_weights: bool = False,
) -> list[tuple[Path, str]]:
    """(file on disk, its path relative to root) for every file under `paths`, sorted, none twice."""
    found: dict[str, Path] = {}
    for path in paths:
        path = Path(path)
        absolute = path.absolute()
        if not absolute.exists():
            raise BadInput(f"pack: {path} does not exist")
        try:
            absolute.relative_to(root)
        except ValueError:
            raise BadInput(f"pack: {path} is outside the root {root}; pass --root to a folder that holds it") from None
        candidates = [absolute] if absolute.is_file() else sorted(p for p in absolute.rglob("*") if p.is_file())
        for file in candidates:
            relative = file.relative_to(root).as_posix()
            if _transient(file) or any(fnmatch.fnmatch(relative, pattern) for pattern in exclude):
                continue
            if newer_than_ns is not None and not _modified_since(file, newer_than_ns):
                continue
            if drop_finished_checkpoints and file.name == "checkpoint.pt" and finished_run(file.parent):
                continue
            if drop_published_run_weights and published_run_weights(file):
                continue
            if file.is_symlink():
                raise BadInput(f"pack: {relative} is a symbolic link; pack the file it points to")
            found[relative] = file
    if not found:
        raise BadInput("pack: nothing to pack (no files under the paths given, or all of them left out)")
    return [(found[k], k) for k in sorted(found)]


class _PartWriter:
    """A write-only file object that cuts what is written into parts of `part_bytes`, hashing each
    part and the whole stream as it goes (tarfile writes the archive straight into it)."""

    def __init__(self, folder: Path, stem: str, part_bytes: int):
        self.folder, self.stem, self.part_bytes = folder, stem, part_bytes
        self.parts: list[dict] = []
        self.whole = hashlib.sha256()
        self.total = 0
        self._file: BinaryIO | None = None  # the part being written; None between parts
        self._hash = hashlib.sha256()  # the current part's; _open_next starts a fresh one
        self._size = 0

    def _open_next(self) -> None:
        name = f"{self.stem}.part-{len(self.parts) + 1:03d}"
        self._file = open(self.folder / name, "wb")
        self._hash, self._size = hashlib.sha256(), 0
        self.parts.append({"file": name})

    def _close_current(self) -> None:
        assert self._file is not None  # called only while a part is open
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.parts[-1].update(bytes=self._size, sha256=self._hash.hexdigest())
        self._file = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view.nbytes:
            if self._file is None:
                self._open_next()
            assert self._file is not None  # _open_next opened it
            room = self.part_bytes - self._size
            piece = view[:room]
            self._file.write(piece)
            self._hash.update(piece)
            self.whole.update(piece)
            self._size += piece.nbytes
            self.total += piece.nbytes
            view = view[piece.nbytes :]
            if self._size == self.part_bytes:
                self._close_current()
        return len(data)

    def close(self) -> None:
        if self._file is not None:
            self._close_current()


def _assign_batches(parts: list[dict], manifest_bytes: int, batch_files: int, batch_bytes: int) -> int:
    """Give every part its batch number, in order; each batch also carries a copy of the manifest."""
    batch, count, size = 1, 1, manifest_bytes
    for part in parts:
        if manifest_bytes + part["bytes"] > batch_bytes:
            raise BadInput(
                f"pack: a batch of {batch_bytes} bytes cannot hold a part of {part['bytes']} bytes and the "
                f"manifest ({manifest_bytes} bytes); make --part-mib smaller or --batch-mib larger"
            )
        if count + 1 > batch_files or size + part["bytes"] > batch_bytes:
            batch, count, size = batch + 1, 1, manifest_bytes
        part["batch"] = batch
        count, size = count + 1, size + part["bytes"]
    return batch


def _check_limits(part_mib: float, batch_files: int, batch_mib: float) -> tuple[int, int, int]:
    if not part_mib > 0:
        raise BadInput(f"pack: --part-mib must be positive, got {part_mib}")
    if batch_files < 2:
        raise BadInput(f"pack: --batch-files must be at least 2 (the manifest and one part), got {batch_files}")
    part_bytes, batch_bytes = int(part_mib * MIB), int(batch_mib * MIB)
    if part_bytes < 1024 or part_bytes >= batch_bytes:
        raise BadInput(
            f"pack: a batch of {batch_mib} MiB cannot hold a part of {part_mib} MiB and the manifest; "
            "make --part-mib smaller or --batch-mib larger"
        )
    return part_bytes, batch_files, batch_bytes


def pack(
    paths: list,
    out: str | os.PathLike,
    name: str | None = None,
    root: str | os.PathLike | None = None,
    part_mib: float = DEFAULT_PART_MIB,
    batch_files: int = DEFAULT_BATCH_FILES,
    batch_mib: float = DEFAULT_BATCH_MIB,
    exclude: list[str] | None = None,
    note: str | None = None,
    newer_than: str | os.PathLike | None = None,
    drop_finished_checkpoints: bool = False,
    drop_published_run_weights: bool = False,
) -> Packed:
    """Pack `paths` (files or folders under `root`) into `out`/batch-N/. `out` must be empty or new;
    it gets the batch folders only once every part is written. `newer_than`: only files modified
    since that file was (what a reproduce call changed; one stamped in the same clock tick counts);
    `drop_finished_checkpoints`: leave out the checkpoint.pt of every run directory whose training is
    complete (85 MiB at full scale, of no further use); `drop_published_run_weights`: leave out every run's
    model.safetensors but a finished later seed's, the only copy of a model the zoo does not publish
    (run_files.py). Each file is copied once before it is hashed and
    archived, so a file that another process replaces or appends to meanwhile goes in as one consistent
    version, and one it removes meanwhile is left out. Claims and temporaries of atomic writes are always
    left out (`_transient`)."""
    part_bytes, batch_files, batch_bytes = _check_limits(part_mib, batch_files, batch_mib)
    root = Path(root or ".").absolute()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"pack: --out {out} is not an empty folder; choose a new one")
    marker_ns = None
    if newer_than is not None:
        if not Path(newer_than).is_file():
            raise BadInput(f"pack: --newer-than {newer_than} is not a file")
        marker_ns = Path(newer_than).stat().st_mtime_ns
    members = _members(
        [Path(p) for p in paths],
        root,
        list(exclude or []),
        marker_ns,
        drop_finished_checkpoints,
        drop_published_run_weights,
    )
    name = name or Path(members[0][1]).parts[0]
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise BadInput(f"pack: --name {name!r} may hold letters, digits, '.', '_' and '-' only")
    pack_id = uuid.uuid4().hex[:12]
    stem = f"{name}-{pack_id}"
    files.check_writable_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".packing-"))
    try:
        writer = _PartWriter(staging, stem, part_bytes)
        listed = []
        # the stream mode "w|" only writes to and closes its file object
        with tarfile.open(  # type: ignore[call-overload]  # typeshed: fileobj must also read, seek and tell
            fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT
        ) as tar:
            snapshot = staging / ".snapshot"
            snapshot.mkdir()
            for file, relative in members:
                # one read of the file: what is hashed is what is archived, whatever writes to it meanwhile
                copy = snapshot / "file"
                try:
                    shutil.copy2(file, copy)
                except FileNotFoundError:  # removed by another process since it was listed: not there to pack
                    continue
                listed.append({"path": relative, "bytes": copy.stat().st_size, "sha256": files.sha256_file(copy)})
                tar.add(str(copy), arcname=relative, recursive=False)
                copy.unlink()
        writer.close()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "id": pack_id,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "note": note,
            "archive": {"bytes": writer.total, "sha256": writer.whole.hexdigest(), "kind": "tar (uncompressed)"},
            "limits": {"part_bytes": part_bytes, "batch_files": batch_files, "batch_bytes": batch_bytes},
            "parts": writer.parts,
            "files": listed,
        }
        # the manifest's own size decides how much room a batch has left: measure it with the batch numbers in
        _assign_batches(writer.parts, 0, batch_files, batch_bytes)
        manifest_bytes = len(_manifest_text(manifest).encode()) + 64
        count = _assign_batches(writer.parts, manifest_bytes, batch_files, batch_bytes)
        manifest["batches"] = count
        text = _manifest_text(manifest)
        batches = []
        for number in range(1, count + 1):
            folder = staging / f"batch-{number}"
            folder.mkdir()
            for part in writer.parts:
                if part["batch"] == number:
                    os.replace(staging / part["file"], folder / part["file"])
            files.write_text(folder / f"{stem}.manifest.json", text)
            batches.append(folder)
        final = []
        for folder in batches:  # the batch folders appear only now, whole
            os.replace(folder, out / folder.name)
            final.append(out / folder.name)
    except OSError as err:
        raise files.cannot_write(out, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Packed(manifest, final)


def _manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------
# unpack


def _find_manifests(sources: list[Path]) -> dict[str, tuple[dict, Path]]:
    """pack id -> (manifest, where it was found), from the folders (or manifest files) given."""
    found: dict[str, tuple[dict, Path]] = {}
    for source in sources:
        if not source.exists():
            raise BadInput(f"unpack: {source} does not exist")
        candidates = [source] if source.is_file() else sorted(source.rglob("*.manifest.json"))
        for path in candidates:
            found.setdefault(*_read_manifest(path))
    if not found:
        raise BadInput(f"unpack: no manifest (*.manifest.json) in {', '.join(map(str, sources))}")
    return found


def _read_manifest(path: Path) -> tuple[str, tuple[dict, Path]]:
    """(pack id, (manifest, path)), refused in one line unless the manifest fits its schema: a manifest
    without `parts` must not end in a KeyError deep inside unpack."""
    manifest = files.read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadInput(f"unpack: {path} is not a pack manifest ({FORMAT})")
    found = schema.problem(manifest, _manifest_schema(), _manifest_schema())
    if found:
        raise BadInput(
            f"unpack: {path}: {found}; nothing was unpacked; bring back a batch whose manifest is as pack.py wrote it"
        )
    return manifest["id"], (manifest, path)


@functools.cache
def _manifest_schema() -> dict:
    return json.loads(MANIFEST_SCHEMA.read_text())


def _part_files(sources: list[Path]) -> dict[str, list[Path]]:
    parts: dict[str, list[Path]] = {}
    for source in sources:
        folder = source.parent if source.is_file() else source
        for path in folder.rglob("*.part-*"):
            parts.setdefault(path.name, []).append(path)
    return parts


def _verified_stream(manifest: dict, sources: list[Path], into: Path) -> Path:
    """The parts, checked one by one and joined into one temporary tar file (checked whole)."""
    available = _part_files(sources)
    missing = [p for p in manifest["parts"] if p["file"] not in available]
    if missing:
        batches = sorted({p["batch"] for p in missing})
        raise SamBenchError(
            f"unpack: {len(missing)} of {len(manifest['parts'])} parts of {manifest['name']} are "
            f"missing ({missing[0]['file']} ...); bring back batch {', '.join(map(str, batches))}"
        )
    fd, joined = tempfile.mkstemp(dir=into, prefix=".unpacking-", suffix=".tar")
    whole = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in manifest["parts"]:
                path = available[part["file"]][0]
                data = path.read_bytes()
                if len(data) != part["bytes"] or hashlib.sha256(data).hexdigest() != part["sha256"]:
                    raise SamBenchError(
                        f"unpack: part {path} is altered or damaged (its size or sha256 differs "
                        "from the manifest); bring its batch back again"
                    )
                whole.update(data)
                out.write(data)
        if whole.hexdigest() != manifest["archive"]["sha256"]:
            raise SamBenchError(f"unpack: the joined parts of {manifest['name']} do not match the manifest's sha256")
    except BaseException:
        os.unlink(joined)
        raise
    return Path(joined)


def unpack(sources: list, into: str | os.PathLike = ".", overwrite: bool = False, pack_id: str | None = None) -> dict:
    """Check and unpack a pack found in `sources` (batch folders, the folder holding them, or a
    manifest) into `into`. Nothing is moved into place unless every part and every file checks out;
    an existing file with other content is replaced only with `overwrite`. Returns the manifest with
    the lists of files written, replaced and already identical."""
    sources = [Path(s) for s in sources]
    into = Path(into).absolute()
    manifests = _find_manifests(sources)
    if pack_id is not None:
        if pack_id not in manifests:
            raise BadInput(f"unpack: no pack with id {pack_id} among {', '.join(sorted(manifests))}")
        manifest = manifests[pack_id][0]
    elif len(manifests) > 1:
        names = ", ".join(f"{m['name']} ({i})" for i, (m, _) in sorted(manifests.items()))
        raise BadInput(f"unpack: the sources hold several packs ({names}); pick one with --id")
    else:
        manifest = next(iter(manifests.values()))[0]
    files.check_writable_folder(into)
    into.mkdir(parents=True, exist_ok=True)
    joined = _verified_stream(manifest, sources, into)
    staging = Path(tempfile.mkdtemp(dir=into, prefix=".unpacking-"))
    try:
        with tarfile.open(joined, mode="r:") as tar:
            archived = sorted(m.name for m in tar.getmembers())
            expected = sorted(f["path"] for f in manifest["files"])
            if archived != expected:
                raise SamBenchError(
                    f"unpack: the archive of {manifest['name']} does not hold the files its manifest lists"
                )
            try:
                tar.extractall(staging, filter="data")  # refuses absolute paths, '..' and links that leave the folder
            except tarfile.FilterError as err:
                raise SamBenchError(
                    f"unpack: {manifest['name']} holds a path that would land outside {into} ({err})"
                ) from None
        plan = []
        for entry in manifest["files"]:
            staged = staging / entry["path"]
            if files.sha256_file(staged) != entry["sha256"]:
                raise SamBenchError(f"unpack: {entry['path']} differs from the manifest after unpacking")
            target = into / entry["path"]
            if target.is_file() and files.sha256_file(target) == entry["sha256"]:
                plan.append((staged, target, "identical"))
            elif target.exists():
                if not overwrite or not target.is_file():
                    raise BadInput(
                        f"unpack: {target} exists with other content; nothing was unpacked "
                        "(pass --overwrite to replace such files)"
                    )
                plan.append((staged, target, "replaced"))
            else:
                plan.append((staged, target, "written"))
        for staged, target, what in plan:  # every file checked: now each one moves into place whole
            if what != "identical":
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
    except OSError as err:
        raise files.cannot_write(into, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        joined.unlink(missing_ok=True)
    report = {
        what: [str(t.relative_to(into)) for _, t, w in plan if w == what]
        for what in ("written", "replaced", "identical")
    }
    return {"manifest": manifest, **report}
