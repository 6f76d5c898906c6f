"""A reproduction folder as a report reads it, loaded and checked once: its plan, one record per run with
results (the checked results file, `Results`, and what its run folder says of its training), the cost
measurement, and the verdicts judged from them, handed to the report, the README summary and the pilot.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from sam_bench import files
from sam_bench.evaluation import degenerate
from sam_bench.evaluation.results_record import Results
from sam_bench.experiments import spent


@dataclass
class Folder:
    path: Path
    plan: dict
    records: list[dict]
    cost: dict | None

    @classmethod
    def load(cls, out: str | Path) -> Folder:
        out = Path(out)
        return cls(out, files.read_json(out / "plan.json"), load_results(out), load_cost(out))

    @functools.cached_property
    def verdicts(self) -> dict[str, list[dict]]:
        """The claims' verdicts per architecture (judged once: the report and its summary read them)."""
        from sam_bench.experiments.claims import verdicts
        from sam_bench.experiments.records import by_architecture

        return {arch: verdicts(subset, self.cost) for arch, subset in by_architecture(self.records).items()}

    def pilot_candidates(self) -> list[dict]:
        return pilot_candidates(self.path)

    def budget_sentence(self, with_pilot: str, alone: str) -> str | None:
        """The folder's CPU time and its pilot's other candidates', against the scale's `compute_budget`
        (None when the plan sets none)."""
        budget = self.plan.get("compute_budget")
        if not budget:
            return None
        pilots = self.pilot_candidates()
        cpu_s = spent.of_records(self.records)["cpu_s"] + sum(c["compute"]["cpu_s"] for c in pilots)
        return spent.budget_sentence(cpu_s, budget, with_pilot if pilots else alone)


def load_results(out: Path) -> list[dict]:
    """One record per run of the plan that has results (each seed of a model is a run), in the
    plan's order."""
    plan = files.read_json(out / "plan.json")
    records = []
    for m in plan["models"]:
        path = out / "results" / f"{m['name']}-{m['key']}.json"
        if not path.is_file():
            continue
        results = Results.read(path)  # a hand-edited figure is refused here, not rendered
        training = results["model"].get("training") or {}
        config = training.get("config") or m["config"]
        run = out / "runs" / f"{m['name']}-{m['key']}"
        log = run / "log.jsonl"
        logged = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
        epochs = [e["seconds"] for e in logged]
        meta = files.read_json(run / "metadata.json") if (run / "metadata.json").is_file() else {}
        records.append(
            {
                "name": m["name"],
                "key": m["key"],
                "seed": m.get("seed", config.get("seed", 0)),
                "primary": m.get("primary", True),
                "config": config,
                "results": results,
                "path": path,
                "training": training,
                "epoch_seconds": epochs,
                "training_cpu_s": spent.training_cpu_seconds(logged),
                "degenerate": degenerate.reason(results),
                "overfit_guard": meta.get("overfit_guard"),  # sam_bench.training.guard: None where it was off
                "reused_from": (files.read_json(run / "reused.json") if (run / "reused.json").is_file() else {}).get(
                    "from"
                ),
            }
        )
    return records


def load_cost(out: Path) -> dict | None:
    """The reproduction's cost measurement (`cost.json`, written by `sam-bench cost`), or None."""
    path = Path(out) / "cost.json"
    return files.read_json(path) if path.is_file() else None


def pilot_candidates(out: Path) -> list[dict]:
    """The pilot's other candidates with their compute (`pilot.json` in the folder), if a pilot chose this one."""
    pilot = out / "pilot.json"
    if not pilot.is_file():
        return []
    return [
        c
        for c in files.read_json(pilot)["candidates"]
        if c.get("compute") and Path(c["folder"]).resolve() != out.resolve()
    ]
