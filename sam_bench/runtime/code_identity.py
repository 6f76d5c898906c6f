"""What code made a result, named even where the tree has no `.git`: a fingerprint of the package's files.

A copied tree (a GPU machine reached one command at a time, a cluster's scratch copy) may carry no git history
and lose a `COMMIT` file to ignore rules; the files of the package travel with it. The fingerprint is the sha256
of one line per file under `sam_bench/` (its path and its git blob id), so it is computed from the files alone, and
for any commit from `git ls-tree` without checking it out (`of_commit`). The shipped recipes are package files,
so the fingerprint names the recipe a grid ran too.

    python -m sam_bench.runtime.code_identity                 # this tree's fingerprint
    python -m sam_bench.runtime.code_identity --commit REV    # a commit's, from git
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import subprocess
from pathlib import Path

from sam_bench.rundir.blobs import git_blob_id

PACKAGE = "sam_bench"
ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the package
SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def _digest(entries: list[tuple[str, str]]) -> str:
    lines = "".join(f"{path} {blob}\n" for path, blob in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def _counts(path: str) -> bool:
    parts = path.split("/")
    return not SKIPPED_DIRS.intersection(parts) and not path.endswith(SKIPPED_SUFFIXES)


@functools.lru_cache(None)
def fingerprint(root: Path = ROOT) -> str | None:
    """The fingerprint of the package's files under `root` (None where there is no package to read)."""
    package = root / PACKAGE
    if not package.is_dir():
        return None
    entries = []
    for path in package.rglob("*"):
        name = path.relative_to(root).as_posix()
        if path.is_file() and _counts(name):
            entries.append((name, git_blob_id(path.read_bytes())))
    return _digest(entries) if entries else None


def of_commit(commit: str, repo: Path = ROOT) -> str | None:
    """The fingerprint the package's files have at `commit` of the git repository `repo` (None where git does not
    know the commit)."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(repo), "ls-tree", "-r", "-z", commit, "--", PACKAGE], capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if listed.returncode != 0:
        return None
    entries = []
    for item in listed.stdout.decode().split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        mode, kind, blob = meta.split()
        if kind == "blob" and _counts(path):
            entries.append((path, blob))
    return _digest(entries) if entries else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", help="a commit of this checkout's git history (default: the files here)")
    args = parser.parse_args(argv)
    found = of_commit(args.commit) if args.commit else fingerprint()
    if found is None:
        where = f"commit {args.commit}" if args.commit else str(ROOT / PACKAGE)
        print(f"error: no package files at {where}")
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
