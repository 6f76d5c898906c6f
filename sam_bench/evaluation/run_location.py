"""Where the run a results file names lies in this checkout: a reproduction's results name their runs relative
to the reproduction folder (`runs/<run>`), found by the weights' sha256 wherever the folder is; older files named
them by a path of the machine or working directory that wrote them, and are found by the run's name. Torch-free:
the report and the checks read results files without loading a model."""

from __future__ import annotations

import os
from pathlib import Path

from sam_bench import files

RUNS = "runs"  # a reproduction folder's run directories: <folder>/runs/<run>, beside <folder>/results/


def run_ref(run: str) -> str:
    """How a results file of a reproduction folder names one of its runs: relative to the folder, with no trace
    of where the folder is, so that any checkout (or copy of the folder) finds it; `located` reads it back."""
    return f"{RUNS}/{run}"


def located(ref: str | None, weights_sha256: str | None, results_path: str | Path | None) -> str | None:
    """The model a results file names, as this checkout can load it: a zoo id as it is; a run relative to the
    reproduction folder the results lie in (`runs/<run>`, or by the run's name for an older file's path), or the
    path as given, wherever its metadata records the weights measured; else the reference as it is (loading it
    says what is missing)."""
    if not ref:
        return ref
    looks_like_a_path = "/" in ref or os.sep in ref or ref.startswith((".", "~"))
    if not looks_like_a_path:
        return ref  # a zoo id
    given = Path(ref).expanduser()
    candidates = []
    folder = reproduction_folder(results_path)
    if folder is not None:
        if not given.is_absolute():
            candidates.append(folder / given)
        if given.parent.name == RUNS:
            candidates.append(folder / RUNS / given.name)
    candidates.append(given)
    return next((str(c) for c in candidates if _holds(c, weights_sha256)), ref)


def reproduction_folder(results_path: str | Path | None) -> Path | None:
    """The folder whose `runs/` a results file's run is in: the nearest of its file's folder's parents (a
    reproduction's `results/<file>` or `extensions/<test>/<file>`) that has one; None where none does."""
    if results_path is None:
        return None
    for folder in list(Path(results_path).parents)[1:3]:
        if (folder / RUNS).is_dir():
            return folder
    return None


def _holds(run_dir: Path, sha256: str | None) -> bool:
    """Whether `run_dir` is a run whose metadata records these weights."""
    metadata = run_dir / "metadata.json"
    if sha256 is None or not metadata.is_file():
        return False
    recorded = files.read_json(metadata)
    return isinstance(recorded, dict) and recorded.get("weights_sha256") == sha256
