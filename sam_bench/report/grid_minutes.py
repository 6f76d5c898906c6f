"""How long a scale's whole grid takes on one GPU: every model and training seed the recipe lists, trained and
evaluated one after the other, at the minutes the scale's own runs took there.

Measured where the scale's runs trained or attacked there, else estimated from them, as `sentence` says in words.

    python -m sam_bench.report.grid_minutes reproductions/paper-cifar10-full          # the sentence
    python -m sam_bench.report.grid_minutes reproductions/paper-cifar10-full --write README.md docs/gpu.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sam_bench import files
from sam_bench.bench import marked_block
from sam_bench.data import FINGERPRINTS
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report import gpu_minutes
from sam_bench.report.folder import Folder, read_plan
from sam_bench.training import method_table as table

START = "<!-- grid-minutes start -->"
END = "<!-- grid-minutes end -->"


def signature(attack: str, norm, eps: float, version, images) -> tuple:
    """What makes two evaluations the same work: the attack, its budget, its version and its images."""
    return attack, norm, round(float(eps), 8), version, images


def signature_of_spec(spec, images: int | None) -> tuple:
    """An attack spec's `signature`; `images`: its evaluation block's, where the spec names none."""
    return signature(spec.attack, spec.norm, spec.eps, spec.settings.get("version"), spec.n_examples or images)


def signature_of_result(e: Evaluation) -> tuple:
    """A results file's evaluation's `signature`."""
    return signature(e.attack, e.norm, e.eps_value or 0.0, e.settings.get("version"), e.n_examples)


@dataclass
class Run:
    """One run of the grid: its training's and its evaluation's minutes, and how each was had."""

    name: str
    seed: int
    robust: bool  # trained with an attack
    training: float
    training_from: str  # "measured", "measured in part" or "estimated"
    evaluation: float
    attacks_measured: int  # of the attacks its evaluation makes, how many this run made on the GPU
    attacks: int
    floor: bool  # some of its attacks at the minutes a model not trained with an attack took


@dataclass
class Grid:
    recipe: str
    scale: str
    device: str
    runs: list[Run]

    @property
    def training(self) -> float:
        return sum(r.training for r in self.runs)

    @property
    def evaluation(self) -> float:
        return sum(r.evaluation for r in self.runs)


def _on_gpu(meta: dict) -> bool:
    return str(meta.get("device", "")).startswith("cuda")


def _step(config) -> tuple[str, int | None]:
    """What a training step costs depends on this alone: the method and, for one with an attack, its steps."""
    return config.method, config.attack_steps if table.uses_attack(config.method) else None


def _passes(step: tuple[str, int | None]) -> int:
    return table.passes_per_step(step[0], step[1] or 0)


def estimate(folder: str | Path) -> Grid:
    """The grid of the folder's recipe and scale, each run's minutes measured or estimated as the module says."""
    folder = Path(folder)
    plan = read_plan(folder)
    recipe = load_recipe(plan["name"], plan["scale"], device="cuda")
    test_images = FINGERPRINTS.get(recipe.dataset, (None, None))[1]

    # training: minutes per epoch of every run that trained on the GPU, and whether it finished
    per_epoch: dict[str, float] = {}
    finished: set[str] = set()
    devices: set[str] = set()
    for m in recipe.models:
        path = folder / "runs" / m.run_name / "metadata.json"
        meta = files.read_json(path) if path.is_file() else None
        if not meta or not _on_gpu(meta) or not meta.get("epochs_done") or not meta.get("wall_time_s"):
            continue
        per_epoch[m.run_name] = float(meta["wall_time_s"]) / 60 / int(meta["epochs_done"])
        devices.add(str(meta.get("device_name")))
        if meta.get("status") == "complete":
            finished.add(m.run_name)
    by_step: dict[tuple, list[float]] = {}
    for m in recipe.models:
        if m.run_name in per_epoch:
            by_step.setdefault(_step(m.config), []).append(per_epoch[m.run_name])
    if not by_step:
        raise BadInput(f"{folder}: no run of it trained on a GPU, so there is nothing to count the grid's minutes from")

    def training(m) -> tuple[float, str]:
        step = _step(m.config)
        source = "estimated"
        if m.run_name in per_epoch:
            source = "measured" if m.run_name in finished else "measured in part"
        if step in by_step:
            return min(by_step[step]) * m.config.epochs, source
        nearest = min(by_step, key=lambda s: (abs(math.log(_passes(s) / _passes(step))), s[0], s[1] or 0))
        return min(by_step[nearest]) * _passes(step) / _passes(nearest) * m.config.epochs, source

    # evaluation: each attack's minutes on every run evaluated on the GPU
    made: dict[str, dict[tuple, float]] = {}
    for record in Folder.load(folder).records:
        if record.training.reused_from or not gpu_minutes.evaluated_on(record) or record.path is None:
            continue
        devices.add(str(gpu_minutes.evaluated_on(record)))
        made[record.path.stem] = {
            signature_of_result(e): gpu_minutes.attack_seconds(e) / 60 for e in record.results.evaluations
        }
    robust_of = {m.run_name: table.uses_attack(m.config.method) for m in recipe.models}

    def mean_of(select: Callable[[tuple], bool], runs: list[str]) -> float | None:
        found = [minutes for run in runs for sig, minutes in made[run].items() if select(sig)]
        return statistics.mean(found) if found else None

    def attack(m, sig: tuple) -> tuple[float, bool, bool]:
        """(minutes, measured on this run, at a not-robust model's minutes for a robust one)"""
        if sig in made.get(m.run_name, {}):
            return made[m.run_name][sig], True, False
        same_kind = [run for run in made if robust_of.get(run) == robust_of[m.run_name]]
        for runs in (same_kind, list(made)):
            for select in (lambda s: s == sig, lambda s: s[:3] == sig[:3] and s[4] == sig[4]):
                minutes = mean_of(select, runs)
                if minutes is not None:
                    return minutes, False, robust_of[m.run_name] and runs is not same_kind
        raise BadInput(
            f"{folder}: no run evaluated on the GPU made {sig[0]} at {sig[1]} {sig[2]:g}: nothing to count it from"
        )

    runs = []
    for m in recipe.models:
        block = evaluation_for(m, recipe.evaluation)
        sigs = [signature_of_spec(spec, block.get("n_examples") or test_images) for spec in evaluation_specs(block)]
        each, measured, floors = zip(*[attack(m, sig) for sig in sigs]) if sigs else ((), (), ())
        minutes, source = training(m)
        row = (sum(each), sum(measured), len(sigs), any(floors))
        runs.append(Run(m.name, m.seed, robust_of[m.run_name], minutes, source, *row))
    return Grid(recipe.name, recipe.scale, ", ".join(sorted(devices)), runs)


def _names(names: list[str]) -> str:
    names = list(dict.fromkeys(names))
    if not names:
        return "none"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _hours(minutes: float) -> str:
    return f"{minutes / 60:.1f} hours"


def sentence(grid: Grid, folder: str) -> str:
    """The grid's time on one GPU in one paragraph, and which runs' minutes were measured and which estimated."""
    models = list(dict.fromkeys(r.name for r in grid.runs))
    measured = [r.name for r in grid.runs if r.training_from == "measured"]
    in_part = [r.name for r in grid.runs if r.training_from == "measured in part"]
    evaluated = [r.name for r in grid.runs if r.attacks_measured]
    complete = [r.name for r in grid.runs if r.attacks_measured == r.attacks]
    floors = [r.name for r in grid.runs if r.floor]
    said = (
        f"The whole `{grid.scale}` grid of {grid.recipe} ({len(models)} models, {len(grid.runs)} runs with their "
        f"training seeds) takes about {_hours(grid.training + grid.evaluation)} on one {grid.device}: "
        f"{_hours(grid.training)} of training and {_hours(grid.evaluation)} of evaluation, one run after the "
        f"other (`python -m sam_bench.report.grid_minutes {folder}`). Measured on that GPU (`{folder}`): "
        f"the training of {_names(measured)}"
    )
    if in_part:
        said += f" and the first epochs of {_names(in_part)} (the rest at their rate)"
    said += f"; the attacks {_names(evaluated)} made"
    if complete:
        said += f" (all the recipe asks of {_names(complete)})"
    said += (
        ". Every run's training is counted at the fewest minutes per epoch a measured run of its step (method and "
        "attack steps) took, as one run alone takes them (a run that shared the GPU only ran slower), or scaled by "
        "passes per step from the nearest measured step; every attack not measured, at the minutes the measured "
        "runs took for it"
    )
    if floors:
        said += (
            f" (for {_names(floors)} a floor: more of an adversarially trained model's images reach AutoAttack's "
            "later attacks, so the whole grid likely takes longer)"
        )
    return said + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_bench.report.grid_minutes", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a reproduction folder whose runs trained and were evaluated on a GPU")
    parser.add_argument("--write", nargs="+", default=None, metavar="DOC", help=f"put it between {START} ... {END}")
    args = parser.parse_args(argv)
    try:
        text = sentence(estimate(args.folder), args.folder)
        for path in args.write or []:
            marked_block.replace(Path(path), START, END, text)
    except SamBenchError as err:
        print(f"Error: {err}", file=sys.stderr)
        return err.exit_code
    print(text if not args.write else "\n".join(f"wrote {p}" for p in args.write))
    return 0


if __name__ == "__main__":
    sys.exit(main())
