"""Weights committed once and dropped from the tree, found again: in the tree, in the local cache (by
sha256), in the git history of the checkout (`git cat-file blob`), or at a url; whatever comes back is checked
against its sha256, and a cached copy that fails it is discarded with a warning (docs/zoo.md, "Big weights").
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.request
import warnings
from pathlib import Path

from sam_bench import files
from sam_bench.errors import WeightsNotHere


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (`git hash-object`), known before it is committed."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def cache_dir() -> Path:
    """Where weights materialised from git history or a url are kept (by sha256)."""
    base = os.environ.get("SAM_BENCH_CACHE") or Path.home() / ".cache" / "sam-bench"
    return Path(base) / "weights"


def _from_git(blob: str, where: Path) -> tuple[bytes | None, str]:
    try:
        out = subprocess.run(["git", "-C", str(where), "cat-file", "blob", blob], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is None or out.returncode != 0:
        return None, f"git blob {blob[:12]} is not in the git history at {where}{_why_not_in_git(where)}"
    return out.stdout, ""


def _why_not_in_git(where: Path) -> str:
    """What the reader can do about it: weights committed once and then removed live only in earlier commits,
    which a shallow clone or a copy of the tree without .git lacks."""
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--is-shallow-repository"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return " (git could not be run)"
    if out.returncode != 0:
        return " (this copy has no git history, as a downloaded archive has none: clone the repository)"
    if out.stdout.strip() == "true":
        return " (a shallow clone: `git fetch --unshallow` brings the commits that hold it)"
    return ""


def _from_url(url: str) -> tuple[bytes | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read(), ""
    except (OSError, ValueError) as err:  # URLError is an OSError; ValueError: not a url
        return None, f"could not fetch weights from {url} ({err})"


def materialise(
    local: Path, sha256: str, git_blob: str | None, url: str | None = None, suffix: str = ".safetensors"
) -> tuple[Path, str]:
    """(path, where it came from: tree | cache | git | url) of weights (or any file committed the same way) recorded
    at `local` with this sha256; the caller checks a file in the tree (the user's: a changed one is theirs)."""
    if local.is_file():
        return local, "tree"
    cached = cache_dir() / f"{sha256}{suffix}"
    tried = [f"{local}: {'weights file' if suffix == '.safetensors' else 'file'} not found"]
    if cached.is_file():
        if files.sha256_file(cached) == sha256:
            return cached, "cache"
        warnings.warn(
            f"{cached}: the cached copy does not match its sha256; discarded, and fetched again", stacklevel=2
        )
        cached.unlink(missing_ok=True)
        tried.append(f"the cached copy {cached} did not match the recorded sha256 (discarded)")
    where = next((p for p in (local.parent, *local.parents) if p.is_dir()), Path.cwd())
    for source, ref in (("git", git_blob), ("url", url)):
        if not ref:
            continue
        data, problem = _from_git(ref, where) if source == "git" else _from_url(ref)
        if data is not None and hashlib.sha256(data).hexdigest() != sha256:
            data, problem = None, f"the {source} copy does not match the recorded sha256"
        if data is None:
            tried.append(problem)
            continue
        files.atomic_write(cached, lambda f, payload=data: f.write(payload))
        return cached, source
    if not (git_blob or url):
        tried.append("no git blob and no url is recorded to get it from")
    raise WeightsNotHere("; ".join(tried))
