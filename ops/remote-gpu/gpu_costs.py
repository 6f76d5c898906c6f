"""The full scale's runs (`paper-cifar10 --scale full`: every model and training seed, in the scale's work order,
as `load_recipe(...).models` lists them) with the GPU minutes each is expected to take, for
ops/remote-gpu/gpu_plan.py: training from the estimate below or a probe's measured step, evaluation from the
run's own evaluation block (`evaluation_for`: a later seed gets clean, PGD-10 and the AutoAttack budgets marked
for every seed) at the minutes gpu_attack_minutes.py estimates. A run is named by its model alone for the
model's first seed and "NAME seed N" for a later one (`run_label`).

Training, per step at the paper's batch of 128 on an H100 (eager PyTorch, bf16 autocast), from a review of the
step: kernel launches per step (ST 209, SAM 624, PGD-10 AT 1,923, so 171 per attack step) at about LAUNCH_MS of
host time each, against about GPU_PASS_MS of GPU work per forward-backward pass at batch 128 (an attack step's
input gradient about 2/3 of that); whichever is longer, plus UNOVERLAPPED_MS a step in which the two do not
overlap (the review's ST: about 2.7 ms a step against 2.2 ms of GPU work). A later seed trains the same steps
as its first seed: the same estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from gpu_attack_minutes import evaluation_parts, from_rates

LAUNCH_MS = 0.010
LAUNCHES = {"standard": 209, "sam": 624}
LAUNCHES_PER_ATTACK_STEP = 171
GPU_PASS_MS = 2.2
ATTACK_PASS_SHARE = 2 / 3
UNOVERLAPPED_MS = 0.5
TEST_PASS_S = 0.3  # the clean test pass after every epoch: 10,000 images forward at a large batch
TRAIN_IMAGES = 50_000


def run_label(name: str, seed: int, primary: bool) -> str:
    """How the plan names a run: its model's name for the model's first seed, "NAME seed N" for a later one."""
    return name if primary else f"{name} seed {seed}"


@dataclass
class Model:
    """One run of the full scale: its minutes of training and of evaluation, and how far each is done."""

    name: str
    train: float  # minutes
    evaluate: float
    done_train: float = 0.0
    done_evaluate: float = 0.0
    measured: bool = False  # its training step is a probe's median, not the estimate
    gain: float = 1.0  # its training's speed-up at the probe's chosen step mode (probe_choice)
    evaluation_measured: bool = False  # its evaluation counted from a probe's attack throughput alone
    evaluation_in_part: bool = False  # some of its attacks at the minutes the full scale's runs took (`with_state`)
    ran: str = ""  # what a full-scale run measured of it (`with_state`): "" none, "train", "train, evaluate"
    stands: str = ""  # where its full-scale run stands (`with_state`): "", "done", "21 of 100 epochs"
    method: str = "standard"  # what K cells at once are counted by (ops/remote-gpu/gpu_lanes.py)
    seed: int = 0
    primary: bool = True  # the model's first seed
    parts: dict[str, float] = field(default_factory=dict)  # its evaluation's minutes by attack kind

    @property
    def label(self) -> str:
        return run_label(self.name, self.seed, self.primary)

    @property
    def finished(self) -> bool:
        return self.done_train >= self.train - 1e-9 and self.done_evaluate >= self.evaluate - 1e-9


def step_ms(method: str, attack_steps: int | None) -> float:
    """Estimated milliseconds a training step (batch 128) takes, from its launches and its GPU work: its passes
    on the weights (the method table's passes per step less its attack's: 1 for ST and AT, 2 for SAM, SAM-AT,
    TRADES and AT-AWP, 4 for TRADES-AWP), each pair launching what SAM's two do, and its attack's steps."""
    from sam_bench.training import method_table as table

    attack = (attack_steps or 1) if table.uses_attack(method) else 0
    own = table.passes_per_step(method, attack) - attack
    launches = (LAUNCHES["standard"] if own == 1 else LAUNCHES["sam"] * own / 2) + LAUNCHES_PER_ATTACK_STEP * attack
    return max(launches * LAUNCH_MS, (own + ATTACK_PASS_SHARE * attack) * GPU_PASS_MS) + UNOVERLAPPED_MS


def full_scale_probe(path: str | Path) -> dict:
    """A probe record, refused in one line unless it timed the full scale's network and batch (PreActResNet-18
    at width 1.0, batch 128)."""
    from sam_bench.bench.probe import read

    record = read(path, error=SystemExit)
    s = record["settings"]
    if (s.get("arch"), s.get("width"), s["batch_size"]) != ("preactresnet18", 1.0, 128):
        raise SystemExit(
            f"gpu_plan: {path} timed {s.get('arch')} at width {s.get('width')} and batch {s['batch_size']}, "
            "not the full scale's preactresnet18 at width 1.0 and batch 128"
        )
    return record


def probe_steps(path: str | Path) -> tuple[dict[tuple[str, int | None], float], str]:
    """{(method, attack steps): measured eager step in ms} from a full-scale probe record, and its device."""
    from sam_bench.bench.probe import eager_step_seconds

    record = full_scale_probe(path)
    found = {key: seconds * 1000 for key, seconds in eager_step_seconds(record).items()}
    return found, record["environment"]["device_name"]


def calibration(key: tuple[str, int | None], measured: dict[tuple[str, int | None], float] | None) -> float:
    """What a step the probe did not time is taken to cost, as a share of its estimate: the measured over the
    estimated step of the timed step nearest to it in passes per step (AT-Linf-2's 5-step AT from PGD-10 AT,
    ASAM from SAM), since the estimate's error is mostly in its cost per pass and per launch, which a step
    with as many passes shares; 1 without measurements. The first probe (NVIDIA H200) measured every timed step
    at 2.4-3.0x its estimate: left alone, AT-Linf-2's 6 passes were planned at under a quarter of the time of
    AT-Linf-8's 11."""
    from sam_bench.training import method_table as table

    if not measured:
        return 1.0

    def passes(k: tuple[str, int | None]) -> int:
        return table.passes_per_step(k[0], k[1] or 1 if table.uses_attack(k[0]) else 0)

    nearest = min(measured, key=lambda k: (abs(math.log(passes(k) / passes(key))), k))
    return measured[nearest] / step_ms(*nearest)


def full_scale():
    """The full scale's recipe (sam_bench.recipes.recipe.Recipe), as a GPU stint runs it."""
    from sam_bench.recipes.recipe import load_recipe

    return load_recipe("paper-cifar10", "full", device="cuda")


def runs_of(recipe) -> dict:
    """{run label: recipe.ModelPlan} of a recipe's runs, in its work order."""
    return {run_label(p.name, p.seed, p.primary): p for p in recipe.models}


def model_costs(
    names: list[str] | None,
    measured: dict[tuple[str, int | None], float] | None = None,
    choice=None,
    attack_rates: dict[str, float] | None = None,
) -> list[Model]:
    """The full scale's runs (or those `names` label, in that order) with their estimated minutes; a training
    step in `measured` ({(method, attack steps or None): ms}, `probe_steps`) replaces its estimate, a probe's
    `choice` (probe_choice.Choice) divides the training by its gain for the run's method, and a probe's
    `attack_rates` (gpu_attack_minutes.probe_attack_rates) count the evaluation."""
    from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs
    from sam_bench.training import method_table as table

    recipe = full_scale()
    runs = runs_of(recipe)
    unknown = [n for n in names or [] if n not in runs]
    if unknown:
        raise SystemExit(f"gpu_plan: the full scale has no run {unknown[0]!r}; it has {', '.join(runs)}")
    models = []
    for label in names or list(runs):
        plan = runs[label]
        cfg = plan.config
        steps = math.ceil(TRAIN_IMAGES / cfg.batch_size) * cfg.epochs
        key = (cfg.method, cfg.attack_steps if table.uses_attack(cfg.method) else None)
        ms = (measured or {}).get(key)
        step = ms if ms is not None else step_ms(cfg.method, cfg.attack_steps) * calibration(key, measured)
        gain = 1.0 if choice is None else choice.training_gain(cfg.method)
        train = (steps * step / 1000 / gain + cfg.epochs * TEST_PASS_S) / 60
        robust = table.uses_attack(cfg.method)
        specs = evaluation_specs(evaluation_for(plan, recipe.evaluation))
        parts = evaluation_parts(specs, robust, attack_rates)
        models.append(
            Model(
                plan.name,
                train,
                sum(parts.values()),
                measured=ms is not None,
                gain=gain,
                evaluation_measured=attack_rates is not None and all(from_rates(s, robust) for s in specs),
                method=cfg.method,
                seed=plan.seed,
                primary=plan.primary,
                parts=parts,
            )
        )
    return models
