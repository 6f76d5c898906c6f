"""The committed weights a GPU window's reproduce call evaluates, cut into parts that each travel in one device call.

A full-scale model's weights are committed once and then live in the git history only (README.md here):
a first seed's fp16 copy in its zoo entry, a later seed's own fp32 run weights (a later seed is not published
to the zoo) by the run's `weights.json` (`sam-bench zoo keep`). The lent GPU machine gets a copy of the tree
without `.git`, so it cannot fetch them. `reproduce` evaluates a trained model there when its results lack
attacks the recipe now asks (it gained them after the model was evaluated), or when a window stopped before its
evaluation was done (no results file yet); without its weights it leaves the model as it is, in one line, and
goes on. This writes each such model's weights, named by their sha256, into `.weights/part-1` .. `part-N`
(ignored), as few parts as fit beside the tree in a 64 MiB call, and prints the calls; on the machine,
`ops/remote-gpu/gpu_relay.sh weights` checks each file against its name and puts it in the weights cache, where the
zoo and a kept run look after the tree (sam_bench/rundir/blobs.py). A later seed's weights come from the tree
where a window's pack has just brought them back (their `weights.json` written here as `zoo keep` writes it, to
be committed with them once), else from git by its `weights.json`.

    python ops/remote-gpu/gpu_weights.py                                   # reproductions/paper-cifar10-full
    python ops/remote-gpu/gpu_weights.py reproductions/paper-cifar10-full --all   # every zoo model of the folder
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gpu_data_parts import CALL_LIMIT, MARGIN, MIB, cut, path_bytes, tree_bytes

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT / "reproductions" / "paper-cifar10-full"
OUT = ROOT / ".weights"
EVAL_IMAGES = 10_000  # an evaluation block's images where it names none: the whole CIFAR-10 test set


def lacking(results, evaluation: dict) -> list[tuple]:
    """The attacks of a recipe's evaluation block (for one run) that a results file has no evaluation of."""
    from sam_bench.recipes.evaluation_block import evaluation_specs
    from sam_bench.report.grid_minutes import signature_of_result, signature_of_spec

    have = {signature_of_result(e) for e in results.evaluations}
    asked = [signature_of_spec(s, evaluation.get("n_examples") or EVAL_IMAGES) for s in evaluation_specs(evaluation)]
    return [s for s in asked if s not in have]


def chosen(plan, only: list[str] | None) -> bool:
    """Whether reproduce's --only (NAME for every seed, NAME:SEED for one; None for all) selects the model plan."""
    return only is None or plan.name in only or f"{plan.name}:{plan.seed}" in only


def wanted(folder: Path, every: bool = False, only: list[str] | None = None) -> list[dict]:
    """Zoo entries of the folder's first seeds that the next window evaluates again (their results lack attacks
    the folder's recipe now asks), and of its runs trained and published whose evaluation a window stopped (no
    results file yet); `every`: all of them; `only`: of the models reproduce's --only selects."""
    from sam_bench.recipes.evaluation_block import evaluation_for
    from sam_bench.recipes.recipe import load_recipe
    from sam_bench.report.folder import Folder
    from sam_bench.zoo.store import find_entry, list_entries

    loaded = Folder.load(folder)
    recipe = load_recipe(loaded.plan["name"], loaded.plan["scale"], device="cuda")
    plans = {(m.name, m.key): m for m in recipe.models}
    entries = []
    for record in loaded.records:
        zoo_id = record.results["model"].get("zoo_id")
        plan = plans.get((record.name, record.key))
        if not zoo_id or plan is None or not chosen(plan, only):
            continue
        if every or lacking(record.results, evaluation_for(plan, recipe.evaluation)):
            entries.append(find_entry(zoo_id))
    evaluated = {(r.name, r.key) for r in loaded.records}
    runs = {m.run_name for m in recipe.models if m.primary and (m.name, m.key) not in evaluated and chosen(m, only)}
    for entry in list_entries():
        from_run = Path((entry.get("added") or {}).get("from_run") or "")
        if from_run.name in runs and (ROOT / from_run).resolve() == (folder / "runs" / from_run.name).resolve():
            entries.append(entry)
    return entries


def later_seeds(folder: Path, only: list[str] | None = None) -> list:
    """The recipe's plans (recipe.ModelPlan) of the folder's later seeds whose training is complete and whose
    evaluation is still to finish: no results file yet (a window stopped before it was done), or one that lacks
    attacks the folder's recipe now asks; `only`: of the models reproduce's --only selects."""
    from run_files import finished_run

    from sam_bench.recipes.evaluation_block import evaluation_for
    from sam_bench.recipes.recipe import load_recipe
    from sam_bench.report.folder import Folder

    loaded = Folder.load(folder)
    recipe = load_recipe(loaded.plan["name"], loaded.plan["scale"], device="cuda")
    records = {(r.name, r.key): r for r in loaded.records}
    return [
        plan
        for plan in recipe.models
        if not plan.primary
        and chosen(plan, only)
        and finished_run(folder / "runs" / plan.run_name)
        and (
            (plan.name, plan.key) not in records
            or lacking(records[(plan.name, plan.key)].results, evaluation_for(plan, recipe.evaluation))
        )
    ]


def run_weights(run_dir: Path) -> tuple[Path, str, str]:
    """(a later seed's own weights, checked against its metadata, their sha256, a note where this kept them): from
    the tree (a window's pack brought them back), their `weights.json` written where `zoo keep` has not yet written
    it, or from the cache or git by it. Refused in one line where they are neither (lost: the run must be trained
    again)."""
    from sam_bench import files
    from sam_bench.errors import SamBenchError
    from sam_bench.rundir.model import KEPT, read_metadata, weights_path
    from sam_bench.zoo import runs

    metadata = read_metadata(run_dir)
    note = ""
    if not (run_dir / KEPT).is_file():
        if runs.keep(run_dir) is None:
            raise SamBenchError(
                f"{run_dir}: a later seed trained, whose weights are neither in the tree nor kept in git"
                f" ({KEPT}): unpack the window's batches that brought them back, or train it again"
            )
        note = f"kept {run_dir.name}'s weights ({KEPT} written, as `sam-bench zoo keep` writes it: commit them once)"
    path, _ = weights_path(run_dir, metadata)
    sha = metadata["weights_sha256"]
    if files.sha256_file(path) != sha:
        raise SamBenchError(f"{path}: sha256 does not match {run_dir / 'metadata.json'} (changed or damaged)")
    return path, sha, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(FOLDER.relative_to(ROOT)), help="a reproduction folder")
    parser.add_argument("--all", action="store_true", help="every zoo model of the folder, not only those to redo")
    parser.add_argument("--only", default=None, metavar="NAMES", help="of the models reproduce's --only selects")
    args = parser.parse_args(argv)
    from sam_bench.errors import SamBenchError
    from sam_bench.rundir import blobs
    from sam_bench.zoo.store import weights_file

    try:
        only = args.only.split(",") if args.only else None
        entries = wanted(ROOT / args.folder, args.all, only)
        files, ids = {}, []
        for entry in entries:
            path, source = weights_file(entry)  # from the git history, checked against its sha256, into the cache
            if source != "tree":  # weights in the tree travel with every call
                files[entry["weights"]["sha256"]] = path
                ids.append(entry["id"])
        for plan in later_seeds(ROOT / args.folder, only):  # a run's weights are ignored by git: they never travel
            path, sha, note = run_weights(ROOT / args.folder / "runs" / plan.run_name)
            if note:
                print(note, file=sys.stderr)
            files[sha] = path
            ids.append(f"{plan.name} seed {plan.seed}")
    except SamBenchError as err:
        raise SystemExit(f"gpu_weights: {err}") from None
    shutil.rmtree(OUT, ignore_errors=True)
    if not files:
        print(f"no weights to carry for {args.folder}: no trained model there is still to be evaluated")
        return 0
    room = CALL_LIMIT - tree_bytes(ROOT) - MARGIN
    parts = cut({sha: path.stat().st_size for sha, path in files.items()}, room)
    for number, names in enumerate(parts, 1):
        part = OUT / f"part-{number}"
        part.mkdir(parents=True)
        for sha in names:
            shutil.copyfile(files[sha], part / f"{sha}.safetensors")
        size = path_bytes(part) / MIB
        print(
            f"call {number}: ops/remote-gpu/gpu_relay.sh weights --left L"
            f"  (carry .weights/part-{number}: {size:.1f} MiB)"
        )
    print(f"{len(files)} models' weights ({', '.join(ids)}); {blobs.cache_dir()} or the tree holds them here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
