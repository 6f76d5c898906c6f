"""The measurements of a recipe's extension tests (recipes.endpoints.ExtensionTest), made by `reproduce`
(docs/reproducing.md says which runs and where): a results file already there for the run's weights is kept; a
time limit stops between chunks. A run's weights are taken where the grid keeps them (`weights_ref`): the run's
own, the run it was reused from, or the zoo entry made from them (a published first seed's live in the zoo only)."""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.corruptions import catalogue, official
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation.evaluate import EvaluationStopped
from sam_bench.evaluation.evaluators import benchmark
from sam_bench.evaluation.run_location import run_ref
from sam_bench.recipes.endpoints import ExtensionTest
from sam_bench.report.folder import extension_path
from sam_bench.rundir.model import has_weights, reused_origin
from sam_bench.zoo.store import entry_from_run


def planned(recipe, test: ExtensionTest) -> list:
    """The grid's runs a test measures: each arm's confirmatory seeds (every seed where the scale names none)."""
    seeds = recipe.endpoints.confirmatory_seeds
    return [
        plan
        for plan in recipe.models
        if plan.name in test.arms() and (plan.name not in seeds or plan.seed in seeds[plan.name])
    ]


def _measured(path: Path, run_dir: Path) -> bool:
    if not path.is_file():
        return False
    sha = files.read_json(run_dir / "metadata.json").get("weights_sha256")
    return files.read_json(path).get("model", {}).get("weights_sha256") == sha


def weights_ref(out: Path, run_name: str, zoo_dir=None) -> str:
    """What to load a finished run's weights from, for `load_model_ref`: its run folder where it holds them (or
    keeps them in git), else the folder it was reused from, else the id of the zoo entry made from them."""
    run_dir = Path(out) / "runs" / run_name
    for folder in [run_dir, *reused_origin(Path(out), run_name, "from")]:
        if has_weights(folder):
            return str(folder)
    entry = entry_from_run(files.read_json(run_dir / "metadata.json").get("weights_sha256"), zoo_dir)
    if entry is not None:
        return entry.id
    raise SamBenchError(
        f"{run_dir}: its weights are neither in the run's folder, nor where it was reused from, nor in the zoo"
    )


def corruption_source(test: ExtensionTest, data_dir) -> tuple[str, str | None]:
    """(the set a test measures on this machine, the folder holding CIFAR-10-C/ where it is the official one): the
    official files where the data folder holds them, else the test's `fallback_set`; one line where it has none."""
    if test.corruption_set != catalogue.OFFICIAL:
        return test.corruption_set, None
    if data_dir is not None and (official.corruption_folder(data_dir) / "labels.npy").is_file():
        return test.corruption_set, str(data_dir)
    if test.fallback_set is not None:
        return test.fallback_set, None
    raise BadInput(
        f"{test.corruption_set} needs the official files in <data-dir>/{official.FOLDER}/ (RobustBench's layout), "
        f"and the extension test names no fallback_set; give --data-dir the folder that holds {official.FOLDER}/"
    )


def measure_extensions(
    recipe, out: Path, deadline: float | None, only=None, log=print, progress=False, zoo_dir=None
) -> bool:
    """Every trained run of every extension test measured (resuming unfinished ones); True when each run the tests
    name has its results file (runs not trained yet are left for a later call; a time limit returns False)."""
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
            if only is not None and plan.name not in only and f"{plan.name}:{plan.seed}" not in only:
                complete = False  # left to a call that works on it
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            corruption_set, _ = corruption_source(test, plan.config.data_dir)
            ref = weights_ref(Path(out), plan.run_name, zoo_dir)
            own_run = Path(ref) == Path(out) / "runs" / plan.run_name
            try:
                benchmark(
                    ref,
                    test.attack,  # a threat model that is its own attack
                    device=plan.config.device,
                    out=path,
                    options={"corruption_set": corruption_set},  # the official set's files under the data dir
                    n_examples=test.images,
                    data_dir=plan.config.data_dir,
                    zoo_dir=zoo_dir,
                    progress=progress,
                    stop_at=deadline,
                    recorded_ref=run_ref(plan.run_name) if own_run else None,
                )
            except EvaluationStopped as stopped:
                log(
                    f"{name} {plan.name} seed {plan.seed}: stopped by the time limit ({stopped.done} of "
                    f"{stopped.total} chunks done); run the same command again to continue"
                )
                return False
            log(f"{name} {plan.name} seed {plan.seed}: wrote {path}")
    return complete
