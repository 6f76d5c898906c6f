"""Run records for tests that choose the numbers: `run_record` makes a `RunRecord` (what `report.folder` makes
of each run with results, sam_bench/report/run_record.py) from the fields a test sets, in one dict:

    run_record({"name": "SAM-0.1", "seed": 0, "config": {"method": "sam"}, "results": {...}, "degenerate": None})

`config` holds the training settings the test needs (the rest take TrainConfig's defaults), `results` a results
record (`Results`: accuracies derived from per-image outcomes where it has them; none by default: a run whose
evaluations the test does not ask for), `training` the results file's
`model.training` block; `epoch_seconds`, `training_cpu_s`, `overfit_guard` and `reused_from` are what the run's
folder says of its training. `key` defaults to "<name>-key", `primary` to True."""

from pathlib import Path

from sam_bench.evaluation.results_record import Results
from sam_bench.report.run_record import RunRecord, Training
from sam_bench.training.config import TrainConfig

FIELDS = {
    "name",
    "key",
    "seed",
    "primary",
    "config",
    "results",
    "path",
    "training",
    "epoch_seconds",
    "training_cpu_s",
    "degenerate",
    "overfit_guard",
    "reused_from",
}


def run_record(fields: dict) -> RunRecord:
    unknown = set(fields) - FIELDS
    assert not unknown, f"run_record: no field {sorted(unknown)}"
    config = dict(fields.get("config") or {})
    seed = fields.get("seed", config.get("seed", 0))
    path = fields.get("path")
    return RunRecord(
        name=fields["name"],
        key=fields.get("key", f"{fields['name']}-key"),
        seed=seed,
        config=TrainConfig.from_dict({"seed": seed, **config}),
        results=Results.of(fields.get("results") or {"evaluations": []}),
        path=None if path is None else Path(path),
        primary=fields.get("primary", True),
        training=Training.of(
            fields.get("training"),
            epoch_seconds=tuple(fields.get("epoch_seconds") or ()),
            cpu_s=fields.get("training_cpu_s"),
            overfit_guard=fields.get("overfit_guard"),
            reused_from=fields.get("reused_from"),
        ),
        degenerate=fields.get("degenerate"),
    )
