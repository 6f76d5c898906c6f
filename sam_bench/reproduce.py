"""`sam-bench reproduce`: run a recipe's grid end to end and write its report.

For each model of the recipe (at the chosen scale): train it (resuming an interrupted run, skipping
a finished one), add it to the model zoo, evaluate exactly the zoo's stored weights (clean, PGD at
every eps, AutoAttack at the leaderboard budgets), and write its leaderboard entry. Then
`report.write_report` turns the results files into REPORT.md and plots.

Layout of reproductions/<recipe>-<scale>/:
  plan.json                     the resolved recipe
  runs/<model>-<key>/           run directories (key: hash of the training settings)
  results/<model>-<key>.json    evaluation results (`sam-bench evaluate`'s schema)
  model_zoo/, leaderboards/     only for scales with `publish: false` (smoke): kept out of the
                                project's own zoo and leaderboards
  REPORT.md, *.png              the report
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import clock, files
from .data import load_dataset
from .eps import parse_eps
from .errors import BadInput
from .evaluate import EvaluationStopped, evaluate, load_model_ref, make_attacks
from .recipe import ModelPlan, Recipe, load_recipe
from .train import train


def evaluation_specs(evaluation: dict) -> list:
    """The attack specs of a recipe's `evaluation` block (clean, PGD per eps, AutoAttack)."""
    specs = make_attacks("clean")
    pgd = evaluation.get("pgd") or {}
    for norm in ("Linf", "L2"):
        block = pgd.get(norm) or {}
        for eps in block.get("eps") or []:
            value = parse_eps(str(eps))
            specs += make_attacks("pgd", norm, [str(eps)], steps=int(pgd.get("steps", 10)),
                                  step_size=value * float(block.get("step_fraction", 0.25)))
    aa = evaluation.get("autoattack") or {}
    for norm in ("Linf", "L2"):
        if aa.get(norm) is not None:
            specs += make_attacks("autoattack", norm, [str(aa[norm])], version=aa.get("version", "standard"),
                                  attacks=aa.get("attacks"))
    return specs


def evaluation_for(plan: ModelPlan, evaluation: dict) -> dict:
    """The recipe's evaluation as it applies to one run. AutoAttack is for the leaderboards, which list
    a model's first seed only: its other seeds serve the claims, which rest on clean and PGD accuracy,
    and skip it unless the recipe's `autoattack` block says `all_seeds: true`."""
    aa = evaluation.get("autoattack") or {}
    if plan.primary or aa.get("all_seeds"):
        return evaluation
    return {k: v for k, v in evaluation.items() if k != "autoattack"}


# Results made before per-image outcomes existed are evaluated again: the paired tests need them.
RESULTS_FORMAT = "per-image outcomes"


def _evaluation_key(weights_sha256: str, evaluation: dict) -> str:
    blob = json.dumps({"weights": weights_sha256, "evaluation": evaluation, "format": RESULTS_FORMAT},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _zoo_entry_for(run_meta: dict, zoo_dir) -> dict | None:
    """The zoo entry made from exactly this run's weights, if there is one."""
    from .zoo import list_entries

    for entry in list_entries(zoo_dir=zoo_dir):
        if entry.get("added", {}).get("run_weights_sha256") == run_meta["weights_sha256"]:
            return entry
    return None


class Reproduction:
    def __init__(self, recipe: Recipe, out: Path, zoo_dir=None, leaderboard_dir=None, progress: bool = True,
                 only: list[str] | None = None):
        self.recipe, self.out, self.progress = recipe, Path(out), progress
        self.work = [m for m in recipe.models if not only or m.name in only or f"{m.name}:{m.seed}" in only]  # this process's part
        if recipe.publish:
            self.zoo_dir, self.leaderboard_dir = zoo_dir, leaderboard_dir
        else:
            self.zoo_dir = zoo_dir or self.out / "model_zoo"
            self.leaderboard_dir = leaderboard_dir or self.out / "leaderboards"
        self.notes: list[str] = []

    def log(self, message: str) -> None:
        self.notes.append(message)
        tqdm.write(message) if self.progress else None

    def train_model(self, plan: ModelPlan, deadline: float | None) -> dict | None:
        run_dir = self.out / "runs" / plan.run_name
        started = (run_dir / "metadata.json").is_file()
        if started and not (run_dir / "model.safetensors").is_file():
            stored = files.read_json(run_dir / "metadata.json")
            # A committed reproduction keeps a finished run's weights in the zoo only, or (a model's later
            # seeds) nowhere but in git history once its results, per-image outcomes included, are written:
            # either way the run is done.
            if stored.get("status") == "complete" and (_zoo_entry_for(stored, self.zoo_dir) is not None
                                                       or self._results_for(plan, stored["weights_sha256"])):
                return stored
        meta = train(plan.config, run_dir, resume=started, stop_at=deadline, progress=self.progress)
        return meta if meta.get("status") == "complete" else None

    def _results_for(self, plan: ModelPlan, weights_sha256: str) -> bool:
        path = self.out / "results" / f"{plan.run_name}.json"
        return path.is_file() and files.read_json(path).get("model", {}).get("weights_sha256") == weights_sha256

    def publish(self, plan: ModelPlan, run_meta: dict) -> dict | None:
        """The zoo entry of the run (added if new); None for a model's second and later seeds, which
        stay in the reproduction folder (a zoo id names a model, not one of its seeds)."""
        from . import zoo

        if not plan.primary:
            return None
        entry = _zoo_entry_for(run_meta, self.zoo_dir)
        if entry is None:
            paper = {"name": f"{plan.name} ({self.recipe.name}, {self.recipe.scale} scale)",
                     "link": "https://arxiv.org/abs/2305.05392", "authors": "sam-bench reproduction",
                     "venue": "N/A"}
            entry = zoo.add(self.out / "runs" / plan.run_name, zoo_dir=self.zoo_dir, paper=paper)
            self.log(f"{plan.name}: added to the zoo as {entry['id']}")
        return entry

    def evaluate_model(self, plan: ModelPlan, entry: dict | None, deadline: float | None = None) -> Path:
        """Evaluate exactly the zoo's stored weights (or, for an unpublished seed, the run's)."""
        evaluation = evaluation_for(plan, self.recipe.evaluation)
        run_dir = self.out / "runs" / plan.run_name
        weights = entry["weights_sha256"] if entry else files.read_json(run_dir / "metadata.json")["weights_sha256"]
        key = _evaluation_key(weights, evaluation)
        path = self.out / "results" / f"{plan.run_name}.json"
        if path.is_file():
            existing = files.read_json(path)
            if existing.get("reproduce", {}).get("evaluation_key") == key:
                return path
        model, info = load_model_ref(entry["id"], zoo_dir=self.zoo_dir) if entry else load_model_ref(str(run_dir))
        data = load_dataset(plan.config.dataset, plan.config.data_dir)
        state = path.with_name(path.name + ".partial")
        results = evaluate(model, data, evaluation_specs(evaluation), n_examples=evaluation.get("n_examples"),
                           device=plan.config.device, state_path=state, model_info=info, progress=self.progress,
                           stop_at=deadline)
        results["reproduce"] = {"recipe": self.recipe.name, "scale": self.recipe.scale, "model": plan.name,
                                "seed": plan.seed, "run": plan.run_name, "settings_key": plan.key,
                                "evaluation_key": key}
        files.write_json(path, results)
        state.unlink(missing_ok=True)
        return path

    def render_leaderboards(self) -> None:
        from .leaderboard import render

        try:
            for page in render(self.leaderboard_dir):
                if page.suffix == ".html":
                    self.log(f"leaderboard page {page}")
        except BadInput as err:  # no entries (e.g. no AutoAttack at the board's budget)
            self.log(f"no leaderboard page ({err})")

    def rank(self, plan: ModelPlan, results_path: Path) -> None:
        from .leaderboard import update_from_results

        if not plan.primary:
            return  # only published models are ranked
        try:
            board = update_from_results(results_path, leaderboard_dir=self.leaderboard_dir, zoo_dir=self.zoo_dir)
            self.log(f"{plan.name}: leaderboard entry {board}")
        except BadInput as err:  # e.g. an L2 model when the scale runs no L2 AutoAttack
            self.log(f"{plan.name}: no leaderboard entry ({err})")

    def run(self, deadline: float | None = None) -> bool:
        """Work through the grid, finishing by `deadline` (a `time.time()` value); True when every
        model is trained and evaluated."""
        self.out.mkdir(parents=True, exist_ok=True)
        files.write_json(self.out / "plan.json", self.recipe.describe())
        models = self.work
        with tqdm(total=len(models), desc=f"{self.recipe.name} ({self.recipe.scale})", unit="model",
                  disable=not self.progress, position=0) as grid:
            for plan in models:
                grid.set_postfix_str(plan.name if plan.primary else f"{plan.name} seed {plan.seed}")
                meta = self.train_model(plan, deadline)
                if meta is None:
                    self.log(f"{plan.name}: time limit reached; run the same command again to continue")
                    return False
                entry = self.publish(plan, meta)
                try:
                    results = self.evaluate_model(plan, entry, deadline)
                except EvaluationStopped as stopped:
                    self.log(f"{plan.name}: evaluation stopped by the time limit ({stopped.done} of "
                             f"{stopped.total} chunks done); run the same command again to continue")
                    return False
                self.rank(plan, results)
                grid.update(1)
        return True


def reproduce(recipe_ref: str, scale: str, data_dir: str | None = None, out: str | Path | None = None,
              device: str = "auto", zoo_dir=None, leaderboard_dir=None, max_minutes: float | None = None,
              progress: bool = True, stop_at: float | None = None, executor: str = "local", slurm=None,
              wait: bool = True, only: list[str] | None = None, compile: bool | None = None) -> tuple[bool, Path]:
    """Run the grid and (when it is complete) write the report. Returns (complete, report path).
    A time limit is `max_minutes` from this call's start or `stop_at` (a `time.time()` value).
    executor "slurm" runs each model as a SLURM job (sam_bench.executors; slurm: its SlurmOptions).
    `only`: work on these models of the grid ("SAM-0.1": all its seeds, "SAM-0.1:2": seed 2) and leave the
    others as they are; the report still covers every run with results. Local runs with disjoint `only`
    can share a grid. `compile` (when given) turns torch.compile on or off for every model's training."""
    from .executors import claimed_cells
    from .report import write_report

    if executor == "slurm":
        from .executors import Grid, SlurmOptions, run_on_slurm

        if only:
            raise BadInput("--only is for the local executor (a SLURM grid skips finished cells by itself)")
        grid = Grid.of(recipe_ref, scale, out, data_dir, device, zoo_dir, leaderboard_dir, compile)
        return run_on_slurm(grid, slurm or SlurmOptions.from_recipe(recipe_ref, scale), wait, progress)

    recipe = load_recipe(recipe_ref, scale, data_dir=data_dir, device=device, compile=compile)
    if only:
        unknown = sorted(set(only) - {m.name for m in recipe.models} - {f"{m.name}:{m.seed}" for m in recipe.models})
        if unknown:
            raise BadInput(f"--only: {recipe.name} ({scale}) has no model (or model:seed) {unknown[0]!r}; it has "
                           f"{', '.join(dict.fromkeys(m.name for m in recipe.models))}")
    evaluation_specs(recipe.evaluation)  # a bad evaluation block or a missing pyautoattack fails before any training
    out = Path(out) if out is not None else Path("reproductions") / f"{recipe.name}-{scale}"
    files.check_writable(out / "plan.json")
    repro = Reproduction(recipe, out, zoo_dir, leaderboard_dir, progress, only)
    with claimed_cells(out, repro.work):  # no SLURM job (or another reproduce) trains these models meanwhile
        complete = repro.run(stop_at if stop_at is not None else clock.stop_at(max_minutes, started=time.time()))
    report = write_report(out)
    if complete:
        repro.render_leaderboards()
    return complete, report


def artifacts(out: str | Path, zoo_dir=None, leaderboard_dir=None) -> dict:
    """Where a reproduction's products are: report, plots, zoo entries, leaderboard pages."""
    from .leaderboard import _boards_dir
    from .zoo import _locate

    out = Path(out)
    publish = files.read_json(out / "plan.json").get("publish", True)
    zoo_dir = zoo_dir if publish else (zoo_dir or out / "model_zoo")
    boards = _boards_dir(leaderboard_dir if publish else (leaderboard_dir or out / "leaderboards"))
    entries = []
    for results in sorted((out / "results").glob("*.json")):
        zoo_id = (files.read_json(results).get("model") or {}).get("zoo_id")
        if zoo_id:
            entries.append(_locate(zoo_id, zoo_dir))
    return {"report": out / "REPORT.md", "plots": sorted(out.glob("*.png")), "zoo": entries,
            "leaderboard pages": sorted(boards.glob("*.html"))}

