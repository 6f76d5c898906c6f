"""The measurements of a recipe's extension tests (recipes.endpoints.ExtensionTest), made by `reproduce`.

For each extension test of the scale, every confirmatory seed of the models it compares and of the models shown
`beside` them is evaluated with the test's attack (corruptions), set and images, once that seed's run is trained:
  <folder>/extensions/<test>/<run-name>.json   a results file (eval-results schema, one `corruptions` entry)
  <folder>/extensions/<test>/<run-name>.partial.json   its finished chunks while it is unfinished
A results file already there for the run's weights is kept; a time limit stops between chunks, and the next call
continues from the finished ones. Runs whose weights are kept out of the tree are read the way every run folder is
(rundir.model: weights.json and its git blob)."""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.recipes.endpoints import ExtensionTest
from sam_bench.report.folder import extension_path


def planned(recipe, test: ExtensionTest) -> list:
    """The grid's runs a test measures: each arm's confirmatory seeds (every seed where the scale names none)."""
    seeds = recipe.endpoints.confirmatory_seeds
    return [
        plan
        for plan in recipe.models
        if plan.name in test.arms() and (plan.name not in seeds or plan.seed in seeds[plan.name])
    ]


def _selected(plan, only: list[str] | None) -> bool:
    return only is None or plan.name in only or f"{plan.name}:{plan.seed}" in only


def _measured(path: Path, run_dir: Path) -> bool:
    if not path.is_file():
        return False
    sha = files.read_json(run_dir / "metadata.json").get("weights_sha256")
    return files.read_json(path).get("model", {}).get("weights_sha256") == sha


def measure_extensions(recipe, out: Path, deadline: float | None, only=None, log=print, progress=False) -> bool:
    """Every trained run of every extension test measured (resuming unfinished ones); True when each run the tests
    name has its results file. Runs not trained yet are left for a later call; a time limit stops between chunks
    (EvaluationStopped) and returns False with the finished chunks kept."""
    from sam_bench.evaluation.corruption_runner import evaluate_model
    from sam_bench.evaluation.evaluate import EvaluationStopped
    from sam_bench.runtime.provenance import resolve_device

    complete = True
    for name, test in recipe.endpoints.extension_tests.items():
        for plan in planned(recipe, test):
            run_dir = Path(out) / "runs" / plan.run_name
            path = extension_path(out, name, plan.run_name)
            if not (run_dir / "metadata.json").is_file():
                complete = False  # not trained yet: its measurement waits for it
                continue
            if _measured(path, run_dir):
                continue
            if not _selected(plan, only):
                complete = False
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                evaluate_model(
                    str(run_dir),
                    path,
                    test.corruption_set,
                    n_examples=test.images,
                    data_dir=plan.config.data_dir,
                    device=str(resolve_device(plan.config.device)),
                    progress=progress,
                    stop_at=deadline,
                )
            except EvaluationStopped as stopped:
                log(
                    f"{name} {plan.name} seed {plan.seed}: stopped by the time limit ({stopped.done} of "
                    f"{stopped.total} chunks done); run the same command again to continue"
                )
                return False
            log(f"{name} {plan.name} seed {plan.seed}: wrote {path}")
    return complete
