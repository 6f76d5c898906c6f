"""The last full re-run of a board's entries: `sam-bench verify BOARD --full` evaluates every image of every
evaluation of the results files the entries' figures come from again (`sam-bench recheck`) and writes its recheck
record at the root of the boards (`leaderboards/recheck.json`); a board's page and table show, in each entry's row,
where and when its results file was last re-run in full and how many image outcomes differed.

A re-run belongs to an entry when the record names the very results file (sha256) the entry's figures were taken
from: a results file changed since shows no re-run, rather than another file's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sam_bench.evaluation import recheck
from sam_bench.leaderboard.entries import BoardEntry

RECORD = "recheck.json"


def boards_root(target: Path) -> Path:
    """The boards' root (the folder holding <dataset>/<board>/<entry>.json) of a folder `verify` was given: the
    root itself, a data set's folder or one board's folder."""
    target = Path(target)
    if any(target.glob("*/*/*.json")):
        return target
    if any(target.glob("*/*.json")):
        return target.parent
    return target.parent.parent


def record_path(root: Path) -> Path:
    return Path(root) / RECORD


def describe(rerun: dict) -> str:
    """'full re-run 2026-11-28 on cpu, torch 2.13.0+cpu, 1 thread: identical on 1,000 images' or '... 3 of 5,000
    image outcomes differ'."""
    env = rerun["environment"]
    threads = env.get("cpu_threads")
    where = f"{env.get('device') or 'an unrecorded device'}, torch {env.get('torch_version') or '?'}" + (
        f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
    )
    when = str(rerun.get("rechecked") or "")[:10] or "an unrecorded date"
    outcomes = sum(c["n"] for c in rerun["evaluations"])
    differing = sum(c["images_differing"] for c in rerun["evaluations"])
    agreement = (
        f"identical on {rerun['n_examples']:,} images"
        if differing == 0
        else f"{differing:,} of {outcomes:,} image outcomes differ"
    )
    return f"full re-run {when} on {where}: {agreement}"


def annotate(models: list[BoardEntry], root: Path) -> list[BoardEntry]:
    """The entries, each with the text of its last full re-run where the record holds one for every results file
    its figures come from (the latest date where they differ)."""
    path = record_path(root)
    if not path.is_file():
        return models
    found = {rerun["results_sha256"]: rerun for rerun in recheck.read(path)["models"]}  # by the file each re-ran
    shown = []
    for m in models:
        reruns = [rerun for s in m.sources if (rerun := found.get(str(s.get("sha256")))) is not None]
        if m.sources and len(reruns) == len(m.sources):
            last = max(reruns, key=lambda rerun: str(rerun.get("rechecked") or ""))
            every_evaluation = [c for rerun in reruns for c in rerun["evaluations"]]  # a recheck record's entries
            m = replace(m, full_rerun=describe({**last, "evaluations": every_evaluation}))
        shown.append(m)
    return shown
