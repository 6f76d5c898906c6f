"""One run of a reproduction as the report reads it, made once where the folder is read (`report.folder`): its
name, seed and settings key, its training settings, its checked results, what its run folder says of its
training, and whether it is degenerate; `report.records` asks it what the claims and sections compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sam_bench import files
from sam_bench.evaluation import degenerate as degeneracy
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.recipes.plan_entry import PlanEntry
from sam_bench.rundir.model import REUSED
from sam_bench.training import run_check
from sam_bench.training.config import TrainConfig


@dataclass(frozen=True)
class Training:
    """What a run's results file (its `model.training` block) and its run folder say of its training."""

    wall_time_s: float | None = None
    images_per_s: float | None = None
    passes_per_step: int | None = None
    device_name: str | None = None
    epoch_seconds: tuple[float, ...] = ()  # each epoch's wall time, from the run's log.jsonl
    cpu_s: float | None = None  # the process's CPU time over the logged epochs; None when any epoch lacks it
    overfit_guard: dict | None = None  # sam_bench.training.guard's findings; None where the guard was off
    reused_from: str | None = None  # the run folder it was reused from, when it was not trained here
    # the code that trained it, as its metadata names it (runtime.provenance; report.code_provenance judges it)
    code_commit: str | None = None
    code_fingerprint: str | None = None

    @classmethod
    def of(cls, block: dict | None, **found) -> Training:
        """From a results file's `model.training` block (None: unknown) and what the run folder adds."""
        block = block or {}
        return cls(
            wall_time_s=block.get("wall_time_s"),
            images_per_s=block.get("images_per_s"),
            passes_per_step=block.get("passes_per_step"),
            device_name=block.get("device_name"),
            **found,
        )


@dataclass(frozen=True, eq=False)  # one record per run: two are the same run only if they are one record
class RunRecord:
    name: str  # the model's name in the recipe, e.g. "SAM-0.1" (its seeds share it)
    key: str  # the settings key of its training (sam_bench.recipes.recipe.settings_key)
    seed: int
    config: TrainConfig
    results: Results
    path: Path | None = None  # the results file
    primary: bool = True  # a model's first seed, trained with the grid (later seeds may be added later)
    training: Training = field(default_factory=Training)
    degenerate: str | None = None  # why the model is no evidence (sam_bench.evaluation.degenerate), or None

    @classmethod
    def read(cls, out: Path, planned: PlanEntry, results: Results, path: Path) -> RunRecord:
        """A run of the folder's plan with its checked results, and what its run folder says of its training."""
        block = results.model.training or {}
        config = results.model.training_config or planned.config
        run = out / "runs" / planned.run_name
        logged = run_check.read_log(run) or []
        meta = files.read_json(run / "metadata.json") if (run / "metadata.json").is_file() else {}
        reused = files.read_json(run / REUSED) if (run / REUSED).is_file() else {}
        return cls(
            name=planned.name,
            key=planned.key,
            seed=planned.seed,
            config=TrainConfig.from_dict(config),
            results=results,
            path=path,
            primary=planned.primary,
            training=Training.of(
                block,
                epoch_seconds=tuple(e["seconds"] for e in logged),
                cpu_s=_cpu_seconds(logged),
                overfit_guard=meta.get("overfit_guard"),
                reused_from=reused.get("from"),
                code_commit=meta.get("code_commit"),
                code_fingerprint=meta.get("code_fingerprint"),
            ),
            degenerate=degeneracy.reason(results),
        )

    @property
    def method(self) -> str:
        return self.config.method

    def results_file(self, out: Path) -> str:
        """Its results file, relative to the reproduction folder `out`."""
        assert self.path is not None, "a folder's records name their results files"
        return self.path.relative_to(out).as_posix()

    def evaluation(self, attack: str, norm: str | None = None, eps: str | None = None, **select) -> Evaluation | None:
        """This attack's evaluation at this budget (clean: the clean pass), or None: `Results.evaluation`."""
        return self.results.evaluation(attack, norm, eps, **select)


def _cpu_seconds(epochs: list[dict]) -> float | None:
    """A run's CPU time summed over its logged epochs (log.jsonl's lines); None when any lacks it."""
    if not epochs or any("cpu_seconds" not in e for e in epochs):
        return None
    return float(sum(e["cpu_seconds"] for e in epochs))
