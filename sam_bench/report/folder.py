"""A reproduction folder as a report reads it, loaded and checked once. A results file belongs to a run by its
content, not its name (`_check_identity`); one without per-image outcomes is left out with its reason, never shown.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation.results_record import Results
from sam_bench.recipes import plan_entry
from sam_bench.recipes.plan_entry import PlanEntry, plan_entries
from sam_bench.recipes.recipe import settings_key
from sam_bench.report import spent
from sam_bench.report.records import by_architecture
from sam_bench.report.run_record import RunRecord
from sam_bench.training.config import TrainConfig
from sam_bench.zoo.store import find_entry

if TYPE_CHECKING:
    from sam_bench.zoo.entry import ZooEntry


@dataclass(frozen=True)
class LeftOut:
    """A run whose results file cannot be shown, and why (one line)."""

    name: str
    seed: int
    path: Path
    why: str


@dataclass
class Folder:
    path: Path
    plan: dict
    records: list[RunRecord]
    cost: dict | None
    left_out: list[LeftOut] = field(default_factory=list)

    @classmethod
    def load(cls, out: str | Path) -> Folder:
        out = Path(out)
        plan = read_plan(out)
        records, left_out = load_runs(out, plan)
        return cls(out, plan, records, load_cost(out), left_out)

    @functools.cached_property
    def verdicts(self) -> dict[str, list[dict]]:
        """The claims' verdicts per architecture (judged once: the report and its summary read them)."""
        from sam_bench.report.claims import verdicts

        return {arch: verdicts(subset, self.cost) for arch, subset in by_architecture(self.records).items()}

    def budget_sentence(self, with_pilot: str, alone: str) -> str | None:
        """The folder's and its pilot's CPU time against the scale's `compute_budget` (None when the plan sets none)."""
        budget = self.plan.get("compute_budget")
        if not budget:
            return None
        pilots = pilot_candidates(self.path)
        cpu_s = spent.of_records(self.records)["cpu_s"] + sum(c["compute"]["cpu_s"] for c in pilots)
        return spent.budget_sentence(cpu_s, budget, with_pilot if pilots else alone)


def read_plan(out: Path, fields: tuple[str, ...] = ("name", "scale", "paper")) -> dict:
    """The folder's plan.json, refused in one line unless it lists its runs (name, settings key and settings
    each) and has `fields` (what a report names: the reproduction, its scale, the paper; `cost` needs none)."""
    path = Path(out) / "plan.json"
    if not path.is_file():
        raise BadInput(f"{out}: no plan.json (not a reproduction folder; sam-bench reproduce writes one)")
    plan = files.read_json(path)
    if not isinstance(plan, dict):
        raise SamBenchError(f"{path}: not a reproduction's plan (a {type(plan).__name__}); {plan_entry.FIX}")
    missing = [k for k in (*fields, "models") if k not in plan]
    if missing:
        raise SamBenchError(f"{path}: no {', '.join(f'`{k}`' for k in missing)}; {plan_entry.FIX}")
    plan_entries(plan, str(path))  # each run checked (PlanEntry.of)
    return plan


def load_results(out: Path) -> list[RunRecord]:
    """One record per run (each seed of a model) whose results can be shown, in the plan's order."""
    return load_runs(out)[0]


def load_runs(out: Path, plan: dict | None = None) -> tuple[list[RunRecord], list[LeftOut]]:
    """(`load_results`' records; the runs whose results file cannot be shown, each with the reason)."""
    out = Path(out)
    plan = plan or read_plan(out)
    records: list[RunRecord] = []
    left_out: list[LeftOut] = []
    for m in plan_entries(plan):
        path = out / "results" / f"{m.run_name}.json"
        if not path.is_file():
            continue
        results = Results.read(path)  # a hand-edited figure is refused here, not rendered
        _check_identity(out, plan, m, results, path)
        if results.unverified is not None:
            left_out.append(LeftOut(m.name, m.seed, path, results.unverified))
            continue
        records.append(RunRecord.read(out, m, results, path))
    return records, left_out


def extension_path(out: Path, test_name: str, run_name: str) -> Path:
    """Where a run's measurement for an extension test is (experiments.extension_runs writes it)."""
    return Path(out) / "extensions" / test_name / f"{run_name}.json"


def not_shown(out: Path, left_out: list[LeftOut]) -> str:
    """The runs whose results cannot be shown, each with its file and why (report and summary say it alike)."""
    return "; ".join(f"{r.name} (seed {r.seed}), `{r.path.relative_to(out)}`: {r.why}" for r in left_out)


def _check_identity(out: Path, plan: dict, m: PlanEntry, results: Results, path: Path) -> None:
    """The results file is this run's by its content, whatever its name: the training settings it records
    hash to the run's settings key, and it evaluated the run's weights (or the zoo entry made from them)."""
    label = f"{m.name} (seed {m.seed}, settings key {m.key})"
    fix = f"restore the file (e.g. git checkout) or evaluate {m.name} again"
    config = results.model.training_config
    if isinstance(config, dict):
        try:
            key = settings_key(TrainConfig.from_dict(config))
        except (SamBenchError, TypeError, ValueError) as err:
            raise SamBenchError(f"{path}: its training settings cannot be read ({err}); {fix}") from None
        if key != m.key:
            other = next((o for o in plan_entries(plan) if o.key == key), None)
            whose = f"{other.name} (seed {other.seed}, settings key {key})" if other else f"settings key {key}"
            raise SamBenchError(f"{path}: holds the results of {whose}, not of {label}; {fix}")
    weights = results.model.weights_sha256
    run_weights = _run_weights(out, m)
    if run_weights is None or weights == run_weights:
        return
    entry = _zoo_entry(out, plan, results.model.zoo_id)
    if entry is None:
        return  # the zoo is not at hand: the settings decide
    made_from = entry.run_weights_sha256
    if entry.weights_sha256 != weights or made_from not in (None, run_weights):
        raise SamBenchError(
            f"{path}: evaluated weights sha256 {str(weights)[:12]}, which are not {label}'s "
            f"({run_weights[:12]}, or the zoo entry made from them); {fix}"
        )


def _run_weights(out: Path, m: PlanEntry) -> str | None:
    meta = out / "runs" / m.run_name / "metadata.json"
    return files.read_json(meta).get("weights_sha256") if meta.is_file() else None


def _zoo_entry(out: Path, plan: dict, zoo_id: str | None) -> ZooEntry | None:
    """The zoo entry a results file names, from the folder's own zoo (unpublished scales) or the project's; or None."""
    if not zoo_id:
        return None
    zoo_dir = None if plan.get("publish", True) else out / "model_zoo"
    try:
        return find_entry(zoo_id, zoo_dir)
    except SamBenchError:
        return None


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
