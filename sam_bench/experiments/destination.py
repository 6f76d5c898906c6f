"""Where `sam-bench reproduce` writes: a folder of the user's, never the project's committed evidence by default.

The default is `reproductions/<recipe>-<scale>` under the working directory. In a clone of sam-bench that folder
may be one the project committed (the evidence the README rests on): there the default is refused, so that a
user's run neither rewrites that evidence nor passes the project's runs off as the user's. A committed folder is
written only when asked for by name: `--out reproductions/<recipe>-<scale>`, or `--update-committed`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sam_bench.errors import BadInput

FOLDER = "reproductions"  # the default folder's parent, under the working directory


def default_folder(recipe_name: str, scale: str) -> Path:
    return Path(FOLDER) / f"{recipe_name}-{scale}"


def package_repository() -> Path | None:
    """The git clone sam_bench is imported from, or None (an installed wheel, a copy without .git)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() and (root / FOLDER).is_dir() else None


def is_committed(folder: str | Path) -> bool:
    """Whether `folder` lies in the clone's reproductions/ and git tracks a file in it."""
    root = package_repository()
    if root is None:
        return False
    try:
        inside = Path(folder).resolve().relative_to(root / FOLDER)
    except ValueError:
        return False
    if not inside.parts:
        return False
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "--", str(Path(FOLDER) / inside)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):  # no git: a folder that holds a plan counts as committed
        return (Path(folder) / "plan.json").is_file()
    return bool(listed.strip())


def reproduction_folder(recipe_name: str, scale: str, out=None, update_committed: bool = False) -> Path:
    """The folder a reproduce call writes: `out` when given, the clone's committed folder with
    `update_committed`, else the default, refused in one line where it is committed evidence."""
    if update_committed:
        if out is not None:
            raise BadInput("give --out or --update-committed, not both")
        root = package_repository()
        if root is None:
            raise BadInput(
                "--update-committed: sam_bench is not imported from a git clone of sam-bench; give --out DIR"
            )
        return root / default_folder(recipe_name, scale)
    if out is not None:
        if not str(out).strip():
            raise BadInput("--out is empty: give the folder the reproduction writes")
        return Path(out)
    folder = default_folder(recipe_name, scale)
    if is_committed(folder):
        raise BadInput(
            f"{folder} holds the sam-bench project's committed evidence: write your reproduction elsewhere with "
            f"--out DIR, or add to that folder with --update-committed"
        )
    return folder
