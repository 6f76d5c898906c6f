"""Experiment recipes (YAML): a grid of models, their shared training settings, the evaluation, and
scales that shrink all of it. See sam_bench/recipes/paper-cifar10.yaml for the documented format."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from sam_bench import files, schema
from sam_bench.errors import BadInput
from sam_bench.recipes.endpoints import Endpoints, read_endpoints
from sam_bench.recipes.evaluation_block import autoattack_budgets
from sam_bench.recipes.plan_entry import PlanEntry
from sam_bench.recipes.zoo_models import zoo_ids
from sam_bench.training.loop import RUNTIME_KEYS, TrainConfig

RECIPE_DIR = Path(__file__).parent  # the shipped recipes (*.yaml) lie beside this module
MODEL_KEYS = {"name", "seeds"}  # keys of a model entry that are not training settings
# A model's name names its run folder and results (runs/<name>-<key>), a recipe's and a scale's the reproduction
# folder (reproductions/<recipe>-<scale>): one file name each, never a path out of the folder they belong in.
SAFE_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")


@dataclass
class ModelPlan:
    name: str
    config: TrainConfig
    key: str  # hash of the training settings (seed included): a changed setting means a new run
    primary: bool = True  # the model's first seed: the one published to the zoo and leaderboards

    @property
    def run_name(self) -> str:
        return f"{self.name}-{self.key}"

    @property
    def seed(self) -> int:
        return self.config.seed

    def plan_entry(self) -> PlanEntry:
        """The run as plan.json lists it."""
        return PlanEntry(self.name, self.key, self.seed, self.primary, asdict(self.config))


@dataclass
class Recipe:
    name: str
    scale: str
    paper: str
    dataset: str
    publish: bool
    models: list[ModelPlan]
    evaluation: dict
    # Reproduction folders (names beside this one's, or paths) whose finished runs with the same
    # settings key are taken instead of trained again (sam_bench.experiments.reproduction, `reuse`).
    reuse: list[str] = field(default_factory=list)
    # What the scale may cost, {"hours": H, "cores": C}: H hours of a C-core machine (the report sets the
    # measured CPU time against it, sam_bench.report.spent.budget_sentence).
    compute_budget: dict | None = None
    # The primary test of each claim and the confirmatory seeds, fixed before the runs (endpoints.py)
    endpoints: Endpoints = field(default_factory=lambda: Endpoints({}, {}))
    # What the scale is for, in a line (the scales table in docs/reproducing.md; not part of any run's settings)
    role: str | None = None
    # Zoo ids of models trained elsewhere, evaluated beside the trained ones and never trained (zoo_models.py)
    zoo: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "scale": self.scale,
            "paper": self.paper,
            "dataset": self.dataset,
            "publish": self.publish,
            "evaluation": self.evaluation,
            **({"reuse": self.reuse} if self.reuse else {}),
            **({"compute_budget": self.compute_budget} if self.compute_budget else {}),
            **({"zoo": self.zoo} if self.zoo else {}),
            **self.endpoints.describe(),
            "models": [m.plan_entry().to_json() for m in self.models],
        }


def available() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def scales(ref: str) -> list[str]:
    """The recipe's scale names, in its order."""
    data, _ = _read(ref)
    return list(data.get("scales") or {})


def merge(base, override):
    """Recursive dict merge: dicts merge, anything else (lists, scalars, null) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def settings_key(config: TrainConfig) -> str:
    recipe = {k: v for k, v in asdict(config).items() if k not in RUNTIME_KEYS}
    if recipe.get("sam_perturbation") == "global":  # trains what one process trains: keyed as before it existed
        del recipe["sam_perturbation"]
    if not recipe.get("arch_kwargs"):  # likewise runs without timm constructor arguments
        recipe.pop("arch_kwargs", None)
    if recipe.get("step_mode") == "eager":  # the eager step trained every run keyed before step_mode existed
        del recipe["step_mode"]
    recipe.pop("overfit_guard", None)  # the guard measures, it trains the same weights (training.guard)
    for name in ("beta", "awp_gamma", "awp_warmup"):  # settings added later: keyed only where a method has them
        if recipe.get(name) is None:
            recipe.pop(name, None)
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]


def _seeds(where: str, name: str, *choices) -> list[int] | None:
    """The training seeds of a model: the first of `choices` that is given (a scale's `seeds`, the
    model entry's, the shared `train` block's), as a list of distinct integers; None: its `seed`."""
    for value in choices:
        if value is None:
            continue
        seeds = value if isinstance(value, list) else None
        if not seeds or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in seeds):
            raise BadInput(f"{where}: seeds of {name!r} must be a list of non-negative integers, e.g. [0, 1, 2]")
        if len(set(seeds)) != len(seeds):
            raise BadInput(f"{where}: seeds of {name!r} repeat a seed")
        return seeds
    return None


def _work_order(numbered: list[tuple[int, ModelPlan]], order, where: str, scale: str) -> list[ModelPlan]:
    """The runs in the order the grid works through them: every model's first seed before any second one (a grid
    cut short still has one of each), or as a scale's `order` groups them (docs/reproducing.md), round by round
    within a group; the models no group names follow."""
    names = [plan.name for _, plan in numbered]
    groups = [list(group) for group in order or []]
    named = [name for group in groups for name in group]
    unknown = [name for name in named if name not in names]
    if unknown:
        raise BadInput(f"{where}: scale {scale!r}: order names {unknown[0]!r}, which this scale does not train")
    if len(set(named)) != len(named):
        raise BadInput(f"{where}: scale {scale!r}: order names a model twice")
    rank = {name: g for g, group in enumerate(groups) for name in group}
    place = {name: i for group in groups for i, name in enumerate(group)}
    last = len(groups)
    # within a round, a group's models as it lists them; the rest as the scale lists them (sorted() is stable)
    ordered = sorted(numbered, key=lambda pair: (rank.get(pair[1].name, last), pair[0], place.get(pair[1].name, 0)))
    return [plan for _, plan in ordered]


def _check_name(where: str, what: str, name) -> None:
    """A name that becomes a file name: letters, digits, '.', '_', '-' and '+', not starting with a dot."""
    written = not isinstance(name, bool) and isinstance(name, (str, int, float))  # YAML reads `name: 2` as 2
    if not (written and SAFE_NAME.fullmatch(str(name))):
        raise BadInput(
            f"{where}: {what} {name!r} is not a safe file name: use letters, digits, '.', '_', '-' and '+' "
            "(no path separators, no leading dot)"
        )


def _read(ref: str) -> tuple[dict, str]:
    path = Path(ref)
    if not path.is_file():
        path = RECIPE_DIR / f"{ref}.yaml"
    if not path.is_file():
        raise BadInput(f"unknown recipe {ref!r}: give a YAML file or one of {', '.join(available())}")
    try:
        data = yaml.safe_load(files.read_text(path))
    except yaml.YAMLError as err:
        raise BadInput(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a recipe is a YAML mapping")
    return data, str(path)


def load_recipe(
    ref: str, scale: str, data_dir: str | None = None, device: str = "auto", compile: bool | None = None
) -> Recipe:
    """The recipe's grid at `scale`; `compile` (when given) overrides every model's `compile` setting."""
    data, where = _read(ref)
    schema.check("recipe", data, where, error=BadInput, fix="see sam_bench/recipes/paper-cifar10.yaml")
    scales = data.get("scales") or {}
    if scale not in scales:
        raise BadInput(f"{where}: unknown scale {scale!r}; this recipe has {', '.join(scales) or 'none'}")
    _check_name(where, "recipe name", data["name"])
    _check_name(where, "scale name", scale)
    for entry in data["models"]:
        _check_name(where, "model name", entry["name"])
    s = scales[scale] or {}
    dataset = s.get("dataset", data["dataset"])
    train_defaults = merge(data["train"], s.get("train") or {})
    shared_seeds = train_defaults.pop("seeds", None)
    scale_seeds = s.get("seeds")  # a list for every model, or {model name: list}
    evaluation = merge(data["evaluation"], s.get("evaluation") or {})
    wanted = s.get("models")
    by_name = {m.get("name"): m for m in data["models"]}
    if wanted is not None:
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise BadInput(f"{where}: scale {scale!r} names unknown model {missing[0]!r}")
    known = {f.name for f in fields(TrainConfig)}
    numbered = []  # (seed index, plan)
    # A scale's list also orders the work: on time-limited machines the most wanted models come first.
    for entry in data["models"] if wanted is None else [by_name[n] for n in wanted]:
        settings = {**train_defaults, **{k: v for k, v in entry.items() if k not in MODEL_KEYS}}
        unknown = sorted(set(settings) - known)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known | {"seeds"}), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the settings are {', '.join(sorted(known))}"
            raise BadInput(f"{where}: model {entry.get('name')!r} has unknown setting {unknown[0]!r}{hint}")
        settings.update(dataset=dataset, data_dir=data_dir, device=device)
        if compile is not None:
            settings["compile"] = compile
        for key in ("attack_eps", "attack_step_size"):
            if key in settings and settings[key] is not None:
                settings[key] = str(settings[key])
        name = str(entry["name"])
        per_model = scale_seeds.get(name) if isinstance(scale_seeds, dict) else scale_seeds
        seeds = _seeds(where, name, per_model, entry.get("seeds"), shared_seeds) or [settings.get("seed", 0)]
        for i, seed in enumerate(seeds):  # each seed its own run, keyed by its settings
            try:
                config = TrainConfig(**{**settings, "seed": seed}).validate()
            except BadInput as err:  # say which file and model the setting is in
                raise BadInput(f"{where}: model {name!r}: {err}") from None
            if config.step_mode == "grouped":  # a cell is one run; a group is several
                raise BadInput(
                    f"{where}: model {name!r}: step_mode grouped trains several seeds in one call "
                    "(sam-bench train --step-mode grouped --seeds); a reproduction trains one run per cell"
                )
            numbered.append((i, ModelPlan(name, config, settings_key(config), primary=i == 0)))
    plans = _work_order(numbered, s.get("order"), where, scale)
    if isinstance(scale_seeds, dict) and set(scale_seeds) - {p.name for p in plans}:
        raise BadInput(
            f"{where}: scale {scale!r} gives seeds for unknown model "
            f"{sorted(set(scale_seeds) - {p.name for p in plans})[0]!r}"
        )
    if len({(p.name, p.seed) for p in plans}) != len(plans):
        raise BadInput(f"{where}: model names must be unique")
    reuse = s.get("reuse", [])
    if not (isinstance(reuse, list) and all(isinstance(r, str) and r for r in reuse)):
        raise BadInput(
            f"{where}: scale {scale!r}: reuse must be a list of reproduction folders, e.g. [paper-cifar10-cpu]"
        )
    seeds_by_model: dict[str, list[int]] = {}
    for plan in plans:
        seeds_by_model.setdefault(plan.name, []).append(plan.seed)
    endpoints = read_endpoints(
        s,
        where,
        seeds_by_model,
        evaluation,
        autoattack_budgets(evaluation.get("autoattack")),
        {plan.name: plan.config.method for plan in plans},
    )
    return Recipe(
        data["name"],
        scale,
        data.get("paper", ""),
        dataset,
        bool(s.get("publish", True)),
        plans,
        evaluation,
        reuse,
        s.get("compute_budget"),
        endpoints,
        s.get("role"),
        zoo_ids(data, s, where, scale),
    )
