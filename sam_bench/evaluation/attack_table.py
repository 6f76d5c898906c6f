"""One record per attack: all that sam-bench knows of an attack besides the code that runs it (after AutoAttack's
shape and the training method table): its runner, how its specs are made from a user's options, its cost (forward
passes per image, a gradient counted as several), the CLI options it reads, its role on a board, and how a spot
check measures it again. Every question asked of an attack's name is read from here: adding an attack is adding
its record to TABLE (tests/test_evaluation_tables.py evaluates a model with an attack that is only a record here).
Imports no torch (the CLI's choices are read from it): runners and checks are imported when first called."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, replace

from sam_bench.autoattack_versions import ATTACK_NAMES, FORWARDS_PER_GRADIENT, VERSIONS
from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation.attack_spec import AttackSpec

# How an evaluation's attacks draw their random numbers: per image, on the CPU (sam_bench.attacks.draws.SCHEME,
# written here too so that the table stays torch-free; tests/test_draws.py holds the two equal)
DRAWS = "cpu-per-image-v1"

HEADLINE = "headline"  # ranks a board (RobustBench's autoattack_acc)
COLUMN = "column"  # shown on a board beside the headline (sam-bench's PGD columns)


@dataclass(frozen=True)
class AttackOptions:
    """What a user gives for an attack (`evaluate`'s options, a recipe's evaluation block), parsed; an attack
    reads the ones its record's `options` name."""

    steps: int = 10
    step_size: str | float | None = None
    restarts: int = 1
    version: str = "standard"
    attacks: list[str] | None = None
    seed: int = 0


@dataclass(frozen=True)
class Remeasure:
    """How a spot check (evaluation/spot_check.py) measures an evaluation of the attack again before publication:
    whether its random draws can be replayed image by image on a sample (then a faithful re-run agrees on every
    image, and one differing image refuses the file), and, where they cannot, the most a faithful file's image of
    a stratum differs from its re-run by chance: `chance` for images recorded correct (robust), `chance_fooled`
    (where given) for images recorded wrong (fooled). `retries`: an image recorded fooled that the re-run leaves
    correct is attacked again that many times, from other seeds; it differs only where none of them fools it."""

    replayable: bool
    chance: float
    chance_fooled: float | None = None  # None: `chance`
    retries: int = 0
    # A re-measurement of the attack's own, where its images are not the test images (the corruption pass): (its
    # evaluation, the weights, the clean test set, the device, the sample's rng, every_image, the spot check's
    # `stratified`, data_dir) -> (recorded outcomes, the outcomes now, the sample's strata), all over one index
    own: Callable | None = None
    # An exact replay of the part of the recorded run that can be replayed (AutoAttack's first attacks), for images
    # recorded correct that the re-run measures wrong: (weights, evaluation, the file's environment, the device,
    # x_test, y_test, those images, search math, always=) -> (which of them the replay leaves correct, what it ran,
    # as "its first attacks, apgd-ce and apgd-t,"), or None where it cannot replay here (unless `always`). One the
    # replay measures wrong as well refuses the file, whatever the chance allows.
    replay: Callable | None = None
    # The draws of a run recorded before per-image draws replayed from its chunks (PGD's starts), for the sampled
    # images: (evaluation, clean outcomes, those images, an image's NCHW shape, the GPU it was recorded on or None)
    # -> the attack that runs from them, (weights, x, y, spec) -> adversarial images
    chunk_starts: Callable | None = None
    # What runs again, where not the evaluation as recorded: (path, its name, evaluation) -> (settings, what runs
    # again in words), once what the evaluation says of itself is found to agree (one-line SamBenchError otherwise)
    rerun: Callable | None = None
    # Results whose draws are made per image (attacks.draws): the rate at which a faithful image of each stratum
    # (recorded robust, recorded fooled) differed from its re-run on other arithmetic (other kernels, device,
    # processor), as measured (tools/draws_tolerance.py); the spot check's rule where it cannot re-run the recorded
    # arithmetic (evaluation/check_rules.py). None where not measured.
    arithmetic: tuple[float, float] | None = None
    # A GPU's results file recorded before per-image draws, its chunks' draws replayed on a CPU (cuda_draws.py): the
    # rate at which a faithful image of each stratum differed from its replay (the GPU's search math against the
    # CPU's), as measured (tools/autoattack_tolerance.py --replay-draws); None where not measured
    gpu_arithmetic: tuple[float, float] | None = None
    # AutoAttack with per-image draws: the chance that a recorded-robust image is fooled only by its attacks whose
    # draws a batch shares (Square), which a re-run on a sample cannot replay
    tail_chance: float | None = None

    def chances(self) -> tuple[float, float]:
        """(chance for the images recorded correct, chance for those recorded wrong)."""
        return self.chance, self.chance if self.chance_fooled is None else self.chance_fooled


@dataclass(frozen=True)
class Attack:
    name: str  # as results, recipes and `evaluate --attack` write it
    display: str  # how reports and boards name it
    help: str  # a phrase for `evaluate --attack`'s help
    runner: Callable  # (model, x, y, spec, batch_size, bar) -> runners.AttackOutput
    # (budgets, threat model name, options) -> its specs, one per budget: budgets already parsed and checked
    specs: Callable[[list[float], str | None, AttackOptions], list[AttackSpec]]
    cost: Callable[[AttackSpec, int], int]  # (spec, number of classes) -> at most this many forward passes an image
    options: tuple[str, ...] = ()  # the CLI options it reads besides --attack (`evaluate` refuses the others)
    threat_model: bool = True  # it runs in a threat model, at budgets; False: the clean pass, no norm, no eps
    board: str | None = None  # its role on a board: HEADLINE, COLUMN or None (not shown)
    versions: tuple[str, ...] = ()  # its versions (AutoAttack's standard, plus, rand, custom)
    parts: tuple[str, ...] = ()  # the attacks it is made of (AutoAttack's apgd-ce, apgd-t, ...)
    small_gpu_chunks: bool = False  # it holds much per image: smaller chunks on a GPU (evaluation.batching)
    remeasure: Remeasure | None = None  # None: a spot check has no rule for it
    # An image it leaves correct was correct clean (robust <= clean, image by image): True for attacks in a norm
    # ball; False for the corruption pass, whose corrupted images a model may get right where it misses the clean one
    bounded_by_clean: bool = True

    def __post_init__(self):
        if self.board not in (HEADLINE, COLUMN, None):
            raise ValueError(f"attack {self.name}: board role {self.board!r} is none of {HEADLINE}, {COLUMN}, None")
        if not self.threat_model and ({"norm", "eps"} & set(self.options)):
            raise ValueError(f"attack {self.name}: without a threat model it takes no --norm or --eps")


# The runners and a check's machinery, each imported when it first runs: they import torch, which the CLI's --help,
# reading this table, does not.
def _run_clean(*args, **kwargs):
    from sam_bench.evaluation.runners import run_clean

    return run_clean(*args, **kwargs)


def _run_pgd(*args, **kwargs):
    from sam_bench.evaluation.runners import run_pgd

    return run_pgd(*args, **kwargs)


def _run_autoattack(*args, **kwargs):
    from sam_bench.evaluation.runners import run_autoattack

    return run_autoattack(*args, **kwargs)


def _pgd_chunk_starts(*args, **kwargs):
    from sam_bench.evaluation.pgd_replay import replayed_attack

    return replayed_attack(*args, **kwargs)


def _autoattack_replay(*args, **kwargs):
    from sam_bench.evaluation.autoattack_replay import replay

    return replay(*args, **kwargs)


def _autoattack_rerun(*args, **kwargs):
    from sam_bench.evaluation.autoattack_replay import rerun

    return rerun(*args, **kwargs)


def _corruptions_remeasured(*args, **kwargs):
    from sam_bench.evaluation.corruption_outcomes import remeasured_sample

    return remeasured_sample(*args, **kwargs)


def _own_evaluator(model, x, y, spec, batch_size, bar):
    """The runner of an attack that is its threat model's own evaluation (the corruption pass): its images are
    not the test images, so its evaluator measures it (sam_bench.benchmark), never the attacks' loop."""
    raise BadInput(f"{spec.attack} run as their threat model's evaluation: sam_bench.benchmark(..., {spec.attack!r})")


def _clean_specs(values: list[float], norm: str | None, options: AttackOptions) -> list[AttackSpec]:
    return [AttackSpec("clean", None, 0.0, {})]


def _pgd_specs(values: list[float], norm: str | None, options: AttackOptions) -> list[AttackSpec]:
    if options.steps < 1 or options.restarts < 1:
        raise BadInput("--steps and --restarts must be >= 1")
    fixed_step = None if options.step_size is None else parse_eps(options.step_size)
    if fixed_step == 0:
        raise BadInput("--step-size must be > 0")
    settings = {
        "restarts": options.restarts,
        "random_start": True,
        "loss": "ce",
        "seed": options.seed,
        "draws": DRAWS,  # every image's starts from its own CPU generator (attacks.draws)
    }
    return [
        AttackSpec(
            "pgd",
            norm,
            e,
            {"steps": options.steps, "step_size": e / 4 if fixed_step is None else fixed_step, **settings},
        )
        for e in values
    ]


def _autoattack_specs(values: list[float], norm: str | None, options: AttackOptions) -> list[AttackSpec]:
    from sam_bench.attacks.autoattack import describe, require_pyautoattack

    version, attacks, restarts = options.version, options.attacks, options.restarts
    if version not in VERSIONS:
        raise BadInput(f"unknown AutoAttack version {version!r}; choose one of {', '.join(VERSIONS)}")
    require_pyautoattack()
    if attacks and version != "custom":
        raise BadInput("--attacks needs --version custom (the other versions fix their own attacks)")
    if version == "custom":
        if not attacks:
            raise BadInput("--version custom needs --attacks, e.g. apgd-ce,apgd-t")
        unknown = [a for a in attacks if a not in ATTACK_NAMES]
        if unknown:
            raise BadInput(f"unknown AutoAttack attack {unknown[0]!r}; choose from {', '.join(ATTACK_NAMES)}")
    if restarts < 1:
        raise BadInput("--restarts must be >= 1")
    names, config = describe(version, str(_ball(norm)), attacks, restarts)
    settings = {"version": version, "attacks": names, "seed": options.seed, "config": config, "draws": DRAWS}
    if version == "custom":
        settings["restarts"] = restarts
    return [AttackSpec("autoattack", norm, e, dict(settings)) for e in values]


def _ball(norm: str | None) -> str | None:
    return AttackSpec("", norm, 0.0, {}).ball


def _pgd_cost(spec: AttackSpec, num_classes: int) -> int:
    s = spec.params  # each step a gradient; with restarts, a forward to see what each fooled
    return s.restarts * (s.steps * FORWARDS_PER_GRADIENT + 1)


def _autoattack_cost(spec: AttackSpec, num_classes: int) -> int:
    from sam_bench.attacks.autoattack import forward_passes

    s = spec.params
    return forward_passes(str(s.version), str(spec.ball), s.attacks, s.restarts, num_classes)


CLEAN = Attack(
    "clean",
    display="clean",
    help="clean accuracy alone",
    runner=_run_clean,
    specs=_clean_specs,
    cost=lambda spec, num_classes: 0,  # the clean pass is all it needs
    threat_model=False,
    # Nothing drawn: re-run as recorded, every image agrees. On other arithmetic (SSE4.1 kernels against AVX-512):
    # 0 of 21,662 images recorded correct and 0 of 8,338 recorded wrong differed (benchmarks/draws-tolerance.log);
    # the rates cover their 99% upper bounds. A GPU's clean pass on this CPU differed on none either
    # (benchmarks/gpu-cpu-clean-tolerance.log).
    remeasure=Remeasure(replayable=True, chance=0.0, arithmetic=(0.00022, 0.00056)),
)
PGD = Attack(
    "pgd",
    display="PGD",
    help="PGD",
    runner=_run_pgd,
    specs=_pgd_specs,
    cost=_pgd_cost,
    options=("norm", "eps", "steps", "step_size", "restarts", "seed"),
    board=COLUMN,
    # Measured (docs/evaluation.md): a GPU's file re-run on a CPU from fresh draws, 35 of 98 recorded robust
    # differed at Linf 4/255 (99% bound 48%: chance 0.5); from the H200's draws replayed, each evaluation of the
    # full-scale files has its own rates (recorded_before.replay_chances), at worst these; per-image draws on other
    # arithmetic, 0 of 2,844 robust and 0 of 6,362 fooled
    remeasure=Remeasure(
        replayable=True,
        chance=0.5,
        arithmetic=(0.0017, 0.00073),
        gpu_arithmetic=(0.1515, 0.056),
        chunk_starts=_pgd_chunk_starts,
    ),
)
AUTOATTACK = Attack(
    "autoattack",
    display="AutoAttack",
    help="AutoAttack (RobustBench's)",
    runner=_run_autoattack,
    specs=_autoattack_specs,
    cost=_autoattack_cost,
    options=("norm", "eps", "restarts", "version", "attacks", "seed"),
    board=HEADLINE,
    versions=VERSIONS,
    parts=ATTACK_NAMES,
    small_gpu_chunks=True,
    # Without per-image draws a sample's re-run cannot replay its starts. Measured (docs/evaluation.md): 3 of 108
    # recorded robust fooled by the re-run (99% bound 9.0%: chance 0.10); 0 of 108 recorded fooled left correct (99%
    # bound 4.2%), so with 3 retries a faithful one survives every try at most 0.042^4 = 3e-6 (chance 0: any refuses).
    # Its first two attacks are replayed exactly where the kernels are the recorded ones (autoattack_replay.py).
    remeasure=Remeasure(
        replayable=False,
        chance=0.10,
        chance_fooled=0.0,
        retries=3,
        replay=_autoattack_replay,
        rerun=_autoattack_rerun,
        # Per-image draws on other arithmetic: 2 of 2,202 robust differed (99% bound 0.38%), 0 of 2,123 fooled
        # (0.22%); images only Square fooled (its proposals a batch shares) are held to the chance above
        arithmetic=(0.0039, 0.0022),
        tail_chance=0.10,
    ),
)


def _corruption_specs(values: list[float], norm: str | None, options: AttackOptions) -> list[AttackSpec]:
    if values:
        raise BadInput("corruptions take no eps: their budget is the corruption set")
    return [AttackSpec("corruptions", None, 0.0, {})]


# 15 corruptions at 5 severities: one forward pass of each image per corruption and severity (the corrupted images
# are made or read, not searched for)
CORRUPTION_PASSES = 75

CORRUPTIONS = Attack(
    "corruptions",
    display="corruptions",
    help="common corruptions (CIFAR-10-C: 15 corruptions at 5 severities, a set picked by --corruption-set)",
    runner=_own_evaluator,
    specs=_corruption_specs,
    cost=lambda spec, num_classes: CORRUPTION_PASSES,
    options=("corruption_set",),
    # deterministic: a sampled image of any corruption and severity made again and classified as recorded
    remeasure=Remeasure(
        replayable=True,
        chance=0.0,
        own=_corruptions_remeasured,
        # a forward pass on images made again, as the clean pass: its measured rate of other arithmetic
        arithmetic=(0.00022, 0.00056),
    ),
    bounded_by_clean=False,
)

TABLE: dict[str, Attack] = {a.name: a for a in (CLEAN, PGD, AUTOATTACK, CORRUPTIONS)}


def attack(name: str) -> Attack:
    """The record of an attack by name; BadInput for a name no record has."""
    found = TABLE.get(name) if isinstance(name, str) else None
    if found is None:
        raise BadInput(f"unknown attack {name!r}; choose one of {', '.join(TABLE)}")
    return found


def names() -> tuple[str, ...]:
    return tuple(TABLE)


def headline() -> Attack:
    """The attack that ranks a board (RobustBench's: AutoAttack)."""
    return next(a for a in TABLE.values() if a.board == HEADLINE)


def is_headline(name: str | None) -> bool:
    return name in TABLE and TABLE[name].board == HEADLINE


def columns() -> list[Attack]:
    """The attacks a board shows in columns of their own beside the headline (PGD), in the table's order."""
    return [a for a in TABLE.values() if a.board == COLUMN]


def is_column(name: str | None) -> bool:
    """An attack a board shows in columns of its own beside the headline (PGD)."""
    return name in TABLE and TABLE[name].board == COLUMN


def is_clean(name: str | None) -> bool:
    """The clean pass: the attack that runs in no threat model and changes no image."""
    return name in TABLE and not TABLE[name].threat_model


def has_versions(name: str | None) -> bool:
    """An attack that several versions of may measure one budget (AutoAttack's), told apart by version."""
    return name in TABLE and bool(TABLE[name].versions)


def bounded_by_clean(name: str | None) -> bool:
    """Whether the attack's outcomes can leave correct no image the clean pass got wrong (names no record has: True,
    the stricter check)."""
    return TABLE[name].bounded_by_clean if name in TABLE else True


def in_threat_model(name: str | None) -> bool:
    """An attack that runs at budgets of a threat model (False for the clean pass and for names no record has)."""
    return name in TABLE and TABLE[name].threat_model


def applies_to() -> dict[str, tuple[str, ...]]:
    """{CLI option: the attacks that read it}, for `evaluate` to refuse an option its attack ignores."""
    found: dict[str, list[str]] = {}
    for a in TABLE.values():
        for option in a.options:
            found.setdefault(option, []).append(a.name)
    return {option: tuple(attacks) for option, attacks in found.items()}


def cost(spec: AttackSpec, num_classes: int) -> int | None:
    """At most how many forward passes (a gradient counted as several: attacks.autoattack) the attack spends on
    one image; None for a runner of the spec's own, whose cost nothing here knows."""
    if spec.runner is not None or spec.attack not in TABLE:
        return None
    return TABLE[spec.attack].cost(spec, num_classes)


class _Runners(MutableMapping):
    """The runners by attack name, a view of TABLE: setting one replaces the runner in the attack's record (how
    tests time or interrupt an attack: monkeypatch.setitem(RUNNERS, "pgd", wrapped))."""

    def __getitem__(self, name: str) -> Callable:
        return TABLE[name].runner

    def __setitem__(self, name: str, value: Callable) -> None:
        TABLE[name] = replace(TABLE[name], runner=value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("an attack leaves the table, not only its runner")

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE)

    def __len__(self) -> int:
        return len(TABLE)


RUNNERS = _Runners()
