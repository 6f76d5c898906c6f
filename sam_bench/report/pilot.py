"""A pilot that sizes a reproduction (`sam-bench pilot`, docs/reproducing.md): how far training seeds scatter
at each candidate setting (a reproduction folder of a few seeds of two models), and the smallest effect the
planned grid could then detect, from the pilot's variance parts (`mixed_model.projected`). The chosen candidate
is the cheapest (CPU seconds where every run recorded them: wall time on shared cores measures the neighbours
too) whose first model reaches the required clean accuracy on the whole test set; `pilot.json` keeps every
number and PILOT.md lays them out.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from pathlib import Path

from sam_bench import files
from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table
from sam_bench.report import spent
from sam_bench.report.folder import load_results
from sam_bench.report.records import outcome_flags
from sam_bench.report.run_record import RunRecord
from sam_bench.runtime.provenance import code_commit
from sam_bench.stats import mixed_model
from sam_bench.threat_models import norm_names

SCHEMA = "sam-bench/pilot/v1"
SETTINGS = ("arch", "width", "epochs", "batch_size", "lr", "schedule", "compile")


def parse_measure(text: str) -> tuple:
    """'clean' or 'pgd Linf 2/255' -> the tuple `RunRecord.evaluation` takes."""
    parts = text.split()
    if len(parts) == 1 and attack_table.is_clean(parts[0]):
        return (parts[0],)
    if len(parts) == 3 and attack_table.in_threat_model(parts[0]):
        if parts[1] not in norm_names():  # else a typo reads as "not evaluated" in every candidate's row
            raise BadInput(f"measure {text!r}: unknown norm {parts[1]!r}; choose one of {', '.join(norm_names())}")
        parse_eps(parts[2])
        return tuple(parts)
    raise BadInput(f"unknown measure {text!r}: give 'clean' or e.g. 'pgd Linf 2/255'")


def _label(measure: tuple) -> str:
    return "clean" if measure == ("clean",) else f"{measure[0].upper()} {measure[1]} {measure[2]}"


def _run_metadata(folder: Path, record: RunRecord) -> dict:
    path = folder / "runs" / f"{record.name}-{record.key}" / "metadata.json"
    return files.read_json(path) if path.is_file() else {}


def _described(s: mixed_model.SeedsAndImages) -> dict:
    low, high = s.interval()
    return {
        "estimate": s.estimate,
        "low": low,
        "high": high,
        "standard_error": s.standard_error,
        "df": s.df,
        "seed_sd": s.seed_sd,
        "image_sd": s.image_sd,
        "detectable": s.detectable(),
    }


def _median_of(metas: list[dict], key: str) -> float | None:
    """The median of a metadata figure over the seeds; None unless every seed's run records it."""
    values = [m.get(key) for m in metas]
    known = [float(x) for x in values if x is not None]
    return statistics.median(known) if len(known) == len(values) else None


def cost_basis(candidates: list[dict]) -> str:
    """What candidates are compared by: CPU seconds where every run has them (the module says why), else wall."""
    every = all(m["training_cpu_seconds"] is not None for c in candidates for m in c["models"].values())
    return "training_cpu_seconds" if every else "training_seconds"


def candidate(folder: str | Path, first: str, second: str, measures: list[tuple], plan_seeds: int) -> dict:
    """One candidate setting's pilot numbers (see the module docstring)."""
    folder = Path(folder)
    if not (folder / "plan.json").is_file():
        raise BadInput(f"{folder}: not a reproduction folder (no plan.json); run `sam-bench reproduce` first")
    plan = files.read_json(folder / "plan.json")
    records = {(r.name, r.seed): r for r in load_results(folder)}
    seeds = sorted(s for name, s in records if name == first and (second, s) in records)
    if len(seeds) < 2:
        raise BadInput(
            f"{folder}: {first} and {second} need results for at least two common seeds, found "
            f"{len(seeds)}; run their seeds first (`reproduce --only {first}:1,{second}:1,...`)"
        )
    pair = {name: [records[(name, s)] for s in seeds] for name in (first, second)}
    config = pair[first][0].config
    out: dict = {
        "compute": spent.of_records(list(records.values())),
        "folder": str(folder),
        "scale": plan.get("scale"),
        "settings": {k: getattr(config, k) for k in SETTINGS},
        "seeds": seeds,
        "models": {},
        "difference": {},
    }
    for name, group in pair.items():
        metas = [_run_metadata(folder, r) for r in group]
        full = [(m.get("final") or {}).get("test_acc") for m in metas]
        whole = [float(x) for x in full if x is not None]  # None: a run directory without its metadata
        model: dict = {
            "clean_whole_test_set": {
                "values": full,
                "mean": statistics.fmean(whole) if len(whole) == len(full) else None,
                "sd": statistics.stdev(whole) if len(whole) == len(full) else None,
                "n_test": (metas[0].get("dataset") or {}).get("n_test"),
            },
            "training_seconds": _median_of(metas, "wall_time_s"),
            "training_cpu_seconds": _median_of(metas, "cpu_time_s"),  # None: a run from before CPU time was recorded
            "device_name": metas[0].get("device_name"),
            "measures": {},
        }
        for measure in measures:
            flags = outcome_flags(group, *measure)
            found = None if flags is None else _described(mixed_model.seeds_and_images(flags))
            model["measures"][_label(measure)] = found
        out["models"][name] = model
    for measure in measures:
        a, b = outcome_flags(pair[second], *measure), outcome_flags(pair[first], *measure)
        if a is None or b is None or a.shape != b.shape:
            out["difference"][_label(measure)] = None
            continue
        d = a - b
        pilot = _described(mixed_model.seeds_and_images(d))
        # The detectable effect at the pilot's own seeds comes from the same variance parts as the planned
        # design's (the mean squares at their expectations), so that the two columns compare: the pilot's
        # seeds can scatter less than their images' noise implies, and its own t-test then promises more.
        pilot["detectable"] = mixed_model.projected(d, len(seeds)).detectable()
        planned = {**_described(mixed_model.projected(d, plan_seeds)), "seeds": plan_seeds, "images": d.shape[1]}
        # A pilot's few seeds can put the seed variance far too low (3 seeds said 0.4 points where the grid
        # found about 2): the design is sized at the upper 95% bound of the seeds' mean square,
        # and the estimate beside it shows how uncertain the detectable effect is.
        planned["detectable_at_bound"] = mixed_model.projected(d, plan_seeds, seed_bound=True).detectable()
        out["difference"][_label(measure)] = {"pilot": pilot, "planned": planned}
    return out


def run_pilot(
    folders: list[str | Path],
    out: str | Path,
    first: str = "ST",
    second: str = "SAM-0.1",
    measures: list[str] | None = None,
    plan_seeds: int = 5,
    require_clean: float = 0.80,
) -> Path:
    """Write OUT/pilot.json and OUT/PILOT.md for these candidate folders; returns PILOT.md's path."""
    if first == second:
        raise BadInput(f"--first and --second are both {first}; the pilot compares two different models")
    if plan_seeds < 2:
        raise BadInput(f"--plan-seeds must be 2 or more, got {plan_seeds}")
    if not 0 < require_clean <= 1:
        raise BadInput(f"--require-clean is a fraction in (0, 1], got {require_clean}")
    parsed = [parse_measure(m) for m in (measures or ["clean", "pgd Linf 2/255"])]
    candidates = [candidate(f, first, second, parsed, plan_seeds) for f in folders]

    basis = cost_basis(candidates)
    good = [c for c in candidates if (c["models"][first]["clean_whole_test_set"]["mean"] or 0) >= require_clean]
    chosen = min(good, key=lambda c: sum(m[basis] or float("inf") for m in c["models"].values())) if good else None
    record = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_commit": code_commit(),
        "first": first,
        "second": second,
        "measures": [_label(m) for m in parsed],
        "plan_seeds": plan_seeds,
        "require_clean": require_clean,
        "candidates": candidates,
        "cost_basis": basis,
        "chosen": chosen["folder"] if chosen else None,
    }
    out = Path(out)
    files.write_json(out / "pilot.json", record)
    path = out / "PILOT.md"
    files.write_text(path, render(record))
    return path


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _seconds(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def render(record: dict) -> str:
    """PILOT.md, from pilot.json's record only."""
    first, second, k = record["first"], record["second"], record["plan_seeds"]
    lines = [
        "# Pilot: seed-to-seed spread and detectable effects per candidate setting",
        "",
        f"Written by `sam-bench pilot` ({record['created']}, sam-bench {record['code_commit']}) from the "
        "candidates' results files and run directories; `pilot.json` holds every number.",
        "",
        "| candidate | settings | seeds | "
        + " | ".join(f"{m} clean, whole test set" for m in (first, second))
        + " | training CPU s per run ("
        + ", ".join((first, second))
        + ") | training wall s per run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in record["candidates"]:
        s = c["settings"]
        settings = f"width {s['width']}, {s['epochs']} epochs, batch {s['batch_size']}, {s['schedule']}" + (
            ", compiled" if s.get("compile") else ""
        )
        cells = []
        for name in (first, second):
            full = c["models"][name]["clean_whole_test_set"]
            cells.append(f"{_pct(full['mean'], 2)} (sd {_pts(full['sd'])} points)")
        cpu = ", ".join(_seconds(c["models"][n]["training_cpu_seconds"]) for n in (first, second))
        wall = ", ".join(_seconds(c["models"][n]["training_seconds"]) for n in (first, second))
        lines.append(
            f"| {c['scale']} | {settings} | {', '.join(map(str, c['seeds']))} | {' | '.join(cells)} | {cpu} | {wall} |"
        )
    lines += [
        "",
        f"Seed-to-seed sd of each measure (points; on the evaluated test images) and of {second} minus {first} "
        f"(seed s against seed s); the smallest difference a one-sided 5% test detects with 80% power at the "
        f"pilot's seeds and at the planned {k} seeds on the same images, from the pilot's variance parts. The "
        "seed variance of a few seeds is uncertain: the design is sized with it at the upper 95% bound of its "
        "mean square (the last column); the column before it, at the pilot's own estimate, is what the design "
        "detects if the pilot's seeds were typical:",
        "",
        f"| candidate | measure | {first} mean (seed sd) | {second} mean (seed sd) | difference [95% interval] "
        f"| seed sd of the difference | detectable, pilot | detectable, {k} seeds (estimate) "
        f"| detectable, {k} seeds (sized: seed variance at its upper bound) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in record["candidates"]:
        for measure in record["measures"]:
            m1, m2 = c["models"][first]["measures"][measure], c["models"][second]["measures"][measure]
            d = c["difference"][measure]
            if m1 is None or m2 is None or d is None:
                lines.append(f"| {c['scale']} | {measure} | not evaluated | | | | | | |")
                continue
            p, planned = d["pilot"], d["planned"]
            lines.append(
                f"| {c['scale']} | {measure} | {_pct(m1['estimate'])} ({_pts(m1['seed_sd'])}) | "
                f"{_pct(m2['estimate'])} ({_pts(m2['seed_sd'])}) | {_pts(p['estimate'])} "
                f"[{_pts(p['low'])}, {_pts(p['high'])}] | {_pts(p['seed_sd'])} | {_pts(p['detectable'])} | "
                f"{_pts(planned['detectable'])} | {_pts(planned.get('detectable_at_bound'))} |"
            )
    lines.append("")
    chosen = record["chosen"]
    if chosen:
        c = next(c for c in record["candidates"] if c["folder"] == chosen)
        lines.append(
            f"Chosen: **{c['scale']}**, the cheapest candidate whose {first} reaches "
            f"{_pct(record['require_clean'], 0)} clean accuracy on the whole test set (mean over its seeds); "
            + (
                "cost in training CPU seconds."
                if record.get("cost_basis") == "training_cpu_seconds"
                else "cost in training wall seconds (not every run recorded its CPU time)."
            )
        )
    else:
        lines.append(
            f"No candidate's {first} reaches {_pct(record['require_clean'], 0)} clean accuracy on the whole "
            "test set (mean over its seeds): none is chosen."
        )
    return "\n".join(lines) + "\n"
