"""One cell of a reproduction's grid at a time: train a model (resuming an interrupted run, skipping a
finished one), add it to the zoo, evaluate exactly the zoo's stored weights (clean, PGD at every eps,
AutoAttack at the leaderboard budgets) and write its leaderboard entry. `reproduce` walks the grid
with it here, and `executors` runs it as a SLURM job.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput, SamBenchError, WeightsNotHere
from sam_bench.evaluation.evaluate import EvaluationStopped
from sam_bench.evaluation.evaluators import benchmark
from sam_bench.evaluation.run_location import run_ref
from sam_bench.leaderboard.board import render
from sam_bench.leaderboard.publication import add
from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs
from sam_bench.recipes.recipe import ModelPlan, Recipe
from sam_bench.report import imported_models
from sam_bench.rundir.model import KEPT, REUSED, has_weights, reused_origin
from sam_bench.runtime import clock, code_identity, provenance
from sam_bench.training.loop import train
from sam_bench.zoo import store as zoo

if TYPE_CHECKING:
    from sam_bench.zoo.entry import ZooEntry

# Seconds a cell needs before its first chunk or epoch can start (its model loaded, the clean pass): with less
# left, the grid does not go on past a cell whose evaluation the time limit stopped.
NEXT_CELL_S = 30.0

# Results made before per-image outcomes existed are evaluated again: the paired tests need them.
RESULTS_FORMAT = "per-image outcomes"


def results_path(out: Path, plan: ModelPlan) -> Path:
    """Where a run's results file is, in the reproduction folder `out`."""
    return out / "results" / f"{plan.run_name}.json"


def evaluation_state_path(out: Path, plan: ModelPlan) -> Path:
    """Where the run's evaluation keeps its finished chunks until its results file is written (a stopped or
    running evaluation: evaluation/chunk_state.py)."""
    return results_path(out, plan).with_suffix(".json.partial")


def zoo_evaluation_state_path(out: Path, zoo_id: str) -> Path:
    """Where the evaluation of a model trained elsewhere keeps its finished chunks until its results file is written."""
    return imported_models.results_path(out, zoo_id).with_suffix(".json.partial")


def _evaluation_key(weights_sha256: str, evaluation: dict) -> str:
    blob = json.dumps({"weights": weights_sha256, "evaluation": evaluation, "format": RESULTS_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


class Reproduction:
    def __init__(
        self,
        recipe: Recipe,
        out: Path,
        zoo_dir=None,
        leaderboard_dir=None,
        progress: bool = True,
        only: list[str] | None = None,
        echo: bool = True,
    ):
        self.recipe, self.out, self.progress = recipe, Path(out), progress
        self.echo = echo  # print notes as they come (False: a --parallel worker, whose parent prints them)
        # this process's part of the grid
        self.work = [m for m in recipe.models if not only or m.name in only or f"{m.name}:{m.seed}" in only]
        self.work_limited = bool(only)  # --only: the zoo models are left to a run of the whole grid
        if recipe.publish:
            self.zoo_dir, self.leaderboard_dir = zoo_dir, leaderboard_dir
        else:
            self.zoo_dir = zoo_dir or self.out / "model_zoo"
            self.leaderboard_dir = leaderboard_dir or self.out / "leaderboards"
        self.notes: list[str] = []
        # cells left for want of stored files this machine cannot fetch (WeightsNotHere)
        self.not_evaluated: list[str] = []
        self.evaluation_waits: list[str] = []  # cells whose next evaluation chunk did not fit the time left
        self.ranks = True  # False: nothing goes on a board (`reproduce --no-leaderboard`)
        self._warned_dirty = False  # the warning that uncommitted code trains runs of a confirmatory scale, said once
        # the recipe's zoo models trained elsewhere: evaluated after the trained models, never trained
        self.zoo_models: list[ZooEntry] = []

    def log(self, message: str) -> None:
        """A note on what the grid did or left (not progress: --quiet keeps it)."""
        self.notes.append(message)
        if self.echo and self.progress:
            tqdm.write(message)  # above the progress bars
        elif self.echo:
            print(message, flush=True)

    def reuse(self, plan: ModelPlan) -> bool:
        """Copy this plan's run, in place of training it, from a folder of the recipe's `reuse` list with a finished
        run of the same settings key (copies: a folder must stay whole when committed or packed), with its results
        where they are of these weights; `reused.json` says where from. False when no folder has it."""
        run_dir = self.out / "runs" / plan.run_name
        if not self.recipe.reuse or (run_dir / "metadata.json").is_file():
            return False
        for ref in self.recipe.reuse:
            source = Path(ref) if Path(ref).is_absolute() else self.out.parent / ref
            if not (source / "plan.json").is_file():
                continue
            for m in files.read_json(source / "plan.json")["models"]:
                source_run = source / "runs" / f"{m['name']}-{m['key']}"
                if m["key"] != plan.key or not (source_run / "metadata.json").is_file():
                    continue
                meta = files.read_json(source_run / "metadata.json")
                if meta.get("status") != "complete":
                    continue
                source_results = source / "results" / f"{m['name']}-{m['key']}.json"
                results_fit = (
                    source_results.is_file()
                    and files.read_json(source_results).get("model", {}).get("weights_sha256") == meta["weights_sha256"]
                )
                weights = has_weights(source_run) or zoo.entry_from_run(meta["weights_sha256"], self.zoo_dir)
                if not (weights or (results_fit and not plan.primary)):
                    continue  # nothing here could be evaluated or published
                self._copy_run(source_run, run_dir, source_results if results_fit else None, plan)
                self.log(f"{plan.name}: reused {source_run} (settings key {plan.key}); not trained again")
                return True
        return False

    def _copy_run(self, source_run: Path, run_dir: Path, source_results: Path | None, plan: ModelPlan) -> None:
        results = results_path(self.out, plan)
        if source_results is not None and not results.is_file():
            results.parent.mkdir(parents=True, exist_ok=True)
            files.atomic_write(results, lambda f: f.write(source_results.read_bytes()))
        staging = run_dir.with_name(run_dir.name + ".reusing")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("log.jsonl", "model.safetensors", KEPT, "metadata.json"):
            if (source_run / name).is_file():
                shutil.copy2(source_run / name, staging / name)
        files.write_json(
            staging / REUSED,
            {"from": str(source_run), "results": str(source_results) if source_results else None},
        )
        staging.rename(run_dir)  # the run appears whole, metadata and all, or not at all

    def train_model(self, plan: ModelPlan, deadline: float | None) -> dict | None:
        run_dir = self.out / "runs" / plan.run_name
        if self.reuse(plan):
            return files.read_json(run_dir / "metadata.json")  # finished training, copied
        self._take_weights_kept_since(plan)
        started = (run_dir / "metadata.json").is_file()
        if started and not (run_dir / "model.safetensors").is_file():
            stored = files.read_json(run_dir / "metadata.json")
            # A committed reproduction keeps a finished run's weights in the zoo only, or (a model's later
            # seeds) nowhere but in git history once its results, per-image outcomes included, are written:
            # either way the run is done.
            if stored.get("status") == "complete" and (
                (run_dir / KEPT).is_file()  # kept in git: rundir materialises them
                or zoo.entry_from_run(stored["weights_sha256"], self.zoo_dir) is not None
                or self._results_for(plan, stored["weights_sha256"])
            ):
                return stored
        if not started:
            self._check_code_named()
        meta = train(plan.config, run_dir, resume=started, stop_at=deadline, progress=self.progress)
        return meta if meta.get("status") == "complete" else None

    def _check_code_named(self) -> None:
        """A scale with confirmatory seeds starts a run only where its records will name its code (the report
        counts a confirmatory run only then); uncommitted changes, which no commit holds yet, get a warning."""
        if not self.recipe.endpoints.confirmatory_seeds:
            return
        commit, fingerprint = provenance.code_commit(), code_identity.fingerprint()
        if fingerprint is None and (commit is None or "+" in commit):
            raise BadInput(
                f"{self.recipe.name} --scale {self.recipe.scale} has confirmatory seeds, and the code here cannot be "
                f"named (no package files to fingerprint, no commit): run it from a checkout or a copy of one"
            )
        if commit is not None and commit.endswith("+dirty") and not self._warned_dirty:
            self._warned_dirty = True
            self.log(
                f"warning: uncommitted changes under sam_bench/ ({commit}): these runs' code fingerprint matches no "
                "commit, so the report counts them as exploratory unless the same files are committed"
            )

    def results_kept_as_reused(self, plan: ModelPlan) -> bool:
        """A run reused without its weights (a later seed of a folder that kept first seeds' weights only)
        keeps the results it came with: they cannot be made again here. Not once its weights are kept where
        it came from: then it is evaluated here like any run."""
        run_dir = self.out / "runs" / plan.run_name
        if not (run_dir / REUSED).is_file() or has_weights(run_dir) or self._origin_with_weights(plan):
            return False
        sha = files.read_json(run_dir / "metadata.json")["weights_sha256"]
        return zoo.entry_from_run(sha, self.zoo_dir) is None and self._results_for(plan, sha)

    def _origin_with_weights(self, plan: ModelPlan) -> Path | None:
        """The run directory a run without weights was reused from, once that has exactly these weights again."""
        run_dir = self.out / "runs" / plan.run_name
        if not (run_dir / "metadata.json").is_file() or has_weights(run_dir):
            return None
        sha = files.read_json(run_dir / "metadata.json").get("weights_sha256")
        for origin in reused_origin(self.out, plan.run_name, "from"):
            if has_weights(origin) and files.read_json(origin / "metadata.json").get("weights_sha256") == sha:
                return origin
        return None

    def _take_weights_kept_since(self, plan: ModelPlan) -> None:
        """A run reused without its weights takes them once they are kept where it came from."""
        origin = self._origin_with_weights(plan)
        if origin is None:
            return
        run_dir = self.out / "runs" / plan.run_name
        for name in (KEPT, "model.safetensors"):
            if (origin / name).is_file():
                files.atomic_write(run_dir / name, lambda f, source=origin / name: f.write(source.read_bytes()))
        self.log(f"{plan.name} seed {plan.seed}: its weights are kept again in {origin}; evaluated here from them")

    def _results_for(self, plan: ModelPlan, weights_sha256: str) -> bool:
        path = results_path(self.out, plan)
        return path.is_file() and files.read_json(path).get("model", {}).get("weights_sha256") == weights_sha256

    def publish(self, plan: ModelPlan, run_meta: dict) -> ZooEntry | None:
        """The zoo entry of the run (added if new); None for a later seed (a zoo id names a model, not a seed)."""
        if not plan.primary:
            return None
        entry = zoo.entry_from_run(run_meta["weights_sha256"], self.zoo_dir)
        if entry is None:
            paper = {
                "name": f"{plan.name} ({self.recipe.name}, {self.recipe.scale} scale)",
                "link": "https://arxiv.org/abs/2305.05392",
                "authors": "sam-bench reproduction",
                "venue": "N/A",
            }
            entry = zoo.add(self.out / "runs" / plan.run_name, zoo_dir=self.zoo_dir, paper=paper)
            self.log(f"{plan.name}: added to the zoo as {entry.id}")
        return entry

    def evaluate_model(self, plan: ModelPlan, entry: ZooEntry | None, deadline: float | None = None) -> Path:
        """Evaluate exactly the zoo's stored weights (or, for an unpublished seed, the run's)."""
        evaluation = evaluation_for(plan, self.recipe.evaluation)
        run_dir = self.out / "runs" / plan.run_name
        weights = entry.weights_sha256 if entry else files.read_json(run_dir / "metadata.json")["weights_sha256"]
        key = _evaluation_key(weights, evaluation)
        path = results_path(self.out, plan)
        existing = None
        if path.is_file():
            existing = files.read_json(path)
            if existing.get("reproduce", {}).get("evaluation_key") == key:
                return path
            if self.results_kept_as_reused(plan):
                self.log(f"{plan.name} seed {plan.seed}: reused without its weights; its results are kept as made")
                return path
        tag = {"model": plan.name, "seed": plan.seed, "run": plan.run_name, "settings_key": plan.key}
        self._benchmark(
            entry.id if entry else str(run_dir),
            evaluation,
            load_dataset(plan.config.dataset, plan.config.data_dir),
            plan.config.device,
            path,
            evaluation_state_path(self.out, plan),
            {**tag, "evaluation_key": key},
            zoo_dir=self.zoo_dir if entry else None,
            stop_at=deadline,
            earlier=existing,  # the recipe gained attacks: those the model has already are carried over
            # named relative to this folder, so that any checkout or copy of it finds the run
            recorded_ref=None if entry else run_ref(plan.run_name),
        )
        return path

    def _benchmark(self, ref: str, evaluation: dict, data, device: str, path: Path, state: Path, tag: dict, **given):
        """A cell's model evaluated as the recipe says, its results tagged with the cell (`reproduce`)."""
        benchmark(
            ref,
            None,  # the norm balls its attacks name
            evaluation_specs(evaluation),
            data,
            device,
            out=path,
            n_examples=evaluation.get("n_examples"),
            state=state,
            progress=self.progress,
            search_math=evaluation.get("search_math", "tf32"),
            extra={"reproduce": {"recipe": self.recipe.name, "scale": self.recipe.scale, **tag}},
            replace=True,
            **given,
        )

    def evaluate_zoo_entry(self, entry: ZooEntry, deadline: float | None = None) -> Path:
        """Evaluate a model trained elsewhere (the recipe's `zoo` list) from its zoo weights: results/<zoo id>.json."""
        evaluation = self.recipe.evaluation
        key = _evaluation_key(entry.weights_sha256, evaluation)
        path = imported_models.results_path(self.out, entry.id)
        existing = files.read_json(path) if path.is_file() else None
        if self.zoo_results_current(entry):
            return path
        data_dir, device = self._zoo_data_dir_and_device()
        elsewhere = {"trained_elsewhere": entry.trained_elsewhere} if entry.trained_elsewhere is not None else {}
        self._benchmark(
            entry.id,
            evaluation,
            load_dataset(self.recipe.dataset, data_dir),
            device,
            path,
            zoo_evaluation_state_path(self.out, entry.id),
            {"model": entry.id, "zoo_id": entry.id, **elsewhere, "evaluation_key": key},
            zoo_dir=self.zoo_dir,
            stop_at=deadline,
            earlier=existing,
        )
        return path

    def _zoo_data_dir_and_device(self) -> tuple[str | None, str]:
        """The grid's data folder and device, for a model trained elsewhere."""
        if not self.recipe.models:
            return None, "auto"
        return self.recipe.models[0].config.data_dir, self.recipe.models[0].config.device

    def zoo_results_current(self, entry: ZooEntry) -> bool:
        """A model trained elsewhere has results of this recipe's evaluation of exactly its zoo weights."""
        path = imported_models.results_path(self.out, entry.id)
        if not path.is_file():
            return False
        key = _evaluation_key(entry.weights_sha256, self.recipe.evaluation)
        return files.read_json(path).get("reproduce", {}).get("evaluation_key") == key

    def run_zoo_cell(self, entry: ZooEntry, deadline: float | None = None) -> bool:
        """One model trained elsewhere: evaluated, then ranked as a trained model's first seed is; False when the
        time limit stopped its evaluation (its finished chunks are kept)."""
        try:
            results = self.evaluate_zoo_entry(entry, deadline)
        except EvaluationStopped:
            self.log(f"{entry.id}: evaluation stopped by the time limit; run the same command again to continue")
            self.evaluation_waits.append(entry.id)
            return False
        data_dir, device = self._zoo_data_dir_and_device()
        self._publish(entry.id, results, data_dir, device)  # its boards mark it "trained elsewhere"
        return True

    def render_leaderboards(self) -> None:
        try:
            for page in render(self.leaderboard_dir):
                if page.suffix == ".html":
                    self.log(f"leaderboard page {page}")
        except SamBenchError as err:  # no entries, or an entry (perhaps another grid's) that its evidence refutes
            self.log(f"no leaderboard page ({err})")

    def rank(self, plan: ModelPlan, results_path: Path) -> None:
        if not plan.primary:
            return  # only published models are ranked
        self._publish(plan.name, results_path, plan.config.data_dir, plan.config.device)

    def _publish(self, name: str, results_path: Path, data_dir, device: str) -> None:
        """A model's results onto their boards through the gate of `leaderboard add` (a refusal is a note, and the
        grid goes on); nothing under `reproduce --no-leaderboard`."""
        if not self.ranks:
            return
        try:
            heard = tqdm.write if self.progress and self.echo else None  # the gate measures again (minutes)
            for entry in add(
                results_path, self.leaderboard_dir, self.zoo_dir, data_dir=data_dir, device=device, progress=heard
            ):
                self.log(f"{name}: leaderboard entry {entry}")
        except BadInput as err:  # e.g. an L2 model when the scale runs no L2 AutoAttack
            self.log(f"{name}: no leaderboard entry ({err})")

    def run(self, deadline: float | None = None) -> bool:
        """Work through the grid by `deadline` (a `time.time()` value); True when every model is trained and
        evaluated. A cell whose next evaluation chunk would end too late is left (its chunks kept) and the grid
        goes on while NEXT_CELL_S are left: the next cells' chunks or epochs may fit. A stopped training ends it."""
        files.write_json(self.out / "plan.json", self.recipe.describe())
        with tqdm(
            total=len(self.work),
            desc=f"{self.recipe.name} ({self.recipe.scale})",
            unit="model",
            disable=not self.progress,
            position=0,
        ) as grid:
            for plan in self.work:
                if self.evaluation_waits and not clock.fits(deadline, NEXT_CELL_S):
                    return False
                grid.set_postfix_str(plan.name if plan.primary else f"{plan.name} seed {plan.seed}")
                if not self.run_cell(plan, deadline):
                    if self.evaluation_waits and self.evaluation_waits[-1] == plan.run_name:
                        continue  # its next chunk did not fit: the next cells' work may (cheaper chunks, epochs)
                    return False  # training stopped: the time is up
                grid.update(1)
        for entry in self.zoo_models if not self.work_limited else []:
            if not self.run_zoo_cell(entry, deadline):
                return False
        return not self.not_evaluated and not self.evaluation_waits

    def run_cell(self, plan: ModelPlan, deadline: float | None = None) -> bool:
        """One cell: train, publish, evaluate, rank; False when the time limit stopped it (what is done is kept)."""
        meta = self.train_model(plan, deadline)
        if meta is None:
            self.log(f"{plan.name}: time limit reached; run the same command again to continue")
            return False
        entry = self.publish(plan, meta)
        try:
            results = self.evaluate_model(plan, entry, deadline)
        except EvaluationStopped as stopped:
            why = f"; the next, {stopped.why}" if stopped.why else ""
            self.log(
                f"{plan.name}: evaluation stopped by the time limit ({stopped.done} of "
                f"{stopped.total} chunks done{why}); run the same command again to continue"
            )
            self.evaluation_waits.append(plan.run_name)
            return False
        except WeightsNotHere as err:
            # A trained model to evaluate (again: the recipe gained attacks) whose committed weights this copy of
            # the tree cannot fetch (no .git): the grid goes on with what it can do
            self.not_evaluated.append(plan.name if plan.primary else f"{plan.name}:{plan.seed}")
            self.log(f"{plan.name}: not evaluated here ({err}); bring its weights")
            return True
        self.rank(plan, results)
        return True
