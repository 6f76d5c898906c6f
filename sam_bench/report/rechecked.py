"""The report's section on `sam-bench recheck` (`recheck.json`): the stored weights evaluated again with the
recorded attacks, settings, chunks, batches and CPU threads, every image's outcome compared."""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.evaluation import recheck
from sam_bench.report.run_record import RunRecord


def section(out: Path, records: list[RunRecord]) -> list[str]:
    """What `sam-bench recheck` found (`recheck.json`), if it ran; nothing otherwise."""
    path = out / "recheck.json"
    if not path.is_file():
        return []
    rechecked = recheck.read(path)
    lines = [
        "## Re-measured from the stored weights",
        "",
        f"`sam-bench recheck {out}` loaded the weights each results file names (zoo entries, checked against "
        "their sha256) and evaluated them again with the recorded attacks, settings, chunks, batches and CPU "
        f"threads ({rechecked['created'][:10]}, `recheck.json`): the outcome of every image, compared."
        + (
            f" The recheck of {carried} reused run{'s' if carried != 1 else ''} was made in the folder it was reused "
            "from, on the very same results file, and is carried over (last column)."
            if (carried := sum(1 for m in rechecked["models"] if m.get("carried_from")))
            else ""
        ),
        "",
        "| model | results file | images | evaluations rechecked | image outcomes differing | rechecked on |",
        "|---|---|---|---|---|---|",
    ]
    by_file = {r.results_file(out): r for r in records}
    stale = []
    for m in rechecked["models"]:
        record = by_file.get(m["results"])
        if record is None or record.path is None or files.sha256_file(record.path) != m["results_sha256"]:
            stale.append(m["results"])
        done = {c["evaluation"] for c in m["evaluations"]}
        left = [] if record is None else [recheck.label(e) for e in record.results.evaluations]
        left = [label for label in left if label not in done]
        env = m["environment"]
        threads = env.get("cpu_threads")
        where = f"{env['device']}, torch {env['torch_version']}" + (
            f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
        )
        if m.get("carried_from"):  # a reused run's file, rechecked where it came from (sam_bench.evaluation.recheck)
            where += f"; in `{m['carried_from']}`, the folder it was reused from"
        evaluations = ", ".join(c["evaluation"] for c in m["evaluations"]) + (
            f" (not {', '.join(left)})" if left else ""
        )
        lines.append(
            f"| {m['model']} | `{m['results']}` | {m['n_examples']:,} | {evaluations} | "
            f"{sum(c['images_differing'] for c in m['evaluations'])} | {where} |"
        )
    lines.append("")
    if rechecked["identical"]:
        lines.append(
            f"All {len(rechecked['models'])} models: every evaluation rechecked is identical to the recorded one on "
            "every image."
        )
    else:
        lines.append(
            f"{rechecked['images_differing']} image outcomes differ from the recorded ones (per evaluation in "
            "`recheck.json`, with both environments)."
        )
    named = {m["results"] for m in rechecked["models"]}
    missing = [key for key, r in by_file.items() if r.results.model.zoo_id and key not in named]
    if missing:
        why = (
            ": their results were written before per-image outcomes were recorded, so they cannot be"
            if not any(recheck.has_outcomes(by_file[key].results) for key in missing)
            else ""
        )
        names = ", ".join(f"{by_file[key].name} (`{key}`)" for key in missing)
        lines.append(f"Not rechecked: {names}{why}.")
    if stale:
        lines.append(f"Stale: {', '.join(f'`{s}`' for s in stale)} changed after the recheck; run it again.")
    return lines + [""]
