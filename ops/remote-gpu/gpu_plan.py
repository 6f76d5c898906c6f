"""The plan of GPU windows in numbers: which calls a window (15 minutes of device time today) makes, how
long each is expected to take, and which of the full-scale models (paper-cifar10 --scale full, most wanted
first) are trained and evaluated on all 10,000 test images after each window.

Every call is sized as ops/remote-gpu/gpu_window.py sizes it on the day (the stint from the minutes left, its
packing and `send`s; one stint a window, started in the background by `ops/remote-gpu/gpu_relay.sh start` and
bound by the window, not by a command's 10 minutes), and the models' costs come, most measured first, from
the full scale's own runs (`--state`, below), the first window's probe (`--probe`) and the estimates below,
stated with their derivation. The work of a stint is taken from the queue in order, a model's training then
its evaluation; a training stopped by a stint's end resumes in the next (its checkpoint is carried to a new
machine in one extra call, WINDOWS.md section 3).

    python ops/remote-gpu/gpu_plan.py                   # from where the full scale stands, until 4 more models are done
    python ops/remote-gpu/gpu_plan.py --windows 3 --models ST,SAM-0.1,AT-Linf-8
    python ops/remote-gpu/gpu_plan.py --write           # render it into WINDOWS.md and README.md beside it
    python ops/remote-gpu/gpu_plan.py --probe none      # the estimates alone, no probe's measurements
    python ops/remote-gpu/gpu_plan.py --window 30       # in 30-minute windows instead of today's 15

With `--probe FILE` (a record of `sam-bench bench --probe`) every model whose method
(and attack steps) the probe timed eagerly in one process takes the probe's median step instead of the
estimate; the others keep theirs, and the table says which is which. The probe's ratios also pick the
step mode (`sam_bench.bench.probe_choice`; a commit sets it in the scale before its first stint: the mode is
part of a run's key), and training is counted at its speed-up. With `--arrangement FILE` (by default
DOCS_ARRANGEMENT where committed: a shorter probe of K models at once and of an evaluation beside training in
that mode) they pick K too; the stints run, of the Ks the choice took on its way up, the one whose windows
finish the wanted models soonest (`lanes_for`): K lanes move at the shares of their speed alone the probe
measured (ops/remote-gpu/gpu_lanes.py), and each run a stint stops mid-way is a checkpoint it brings back and the next
window carries in (`send` and `inbox` calls). Until K is measured, the next window's first call is the probe
that measures it (ops/remote-gpu/gpu_prepare.py), and the windows train one model at a time. `--choose FILE ...` prints
only the stints' option (`--parallel K`, one line, for a script: `ops/remote-gpu/gpu_relay.sh start ... $(python
ops/remote-gpu/gpu_plan.py --choose probe.json arrangement.json)`).

With `--state FOLDER` (by default reproductions/paper-cifar10-full; `none`: before any window) the windows
start from where that reproduction stands, at the minutes its runs took on the GPU (`with_state`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gpu_lanes import Speeds, probe_pending, sentence, speeds_for, work
from gpu_prepare import ARRANGEMENT_PROBE_MINUTES
from gpu_window import (
    CHECKPOINT_MIB,
    GAP,
    INBOX_BATCH_MIB,
    MACHINE_START,
    PACK,
    SEND,
    WINDOW,
    TooLittleTime,
    background_minutes,
    batches_for,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sam_bench.report import grid_minutes  # noqa: E402
from sam_bench.report.grid_minutes import signature_of_result  # noqa: E402

# ---- Training, per step at the paper's batch of 128 on an H100 (eager PyTorch, bf16 autocast). From issue
# #46's review of the step: kernel launches per step (ST 209, SAM 624, PGD-10 AT 1,923, so 171 per attack
# step) at about 10 us of host time each, against about 2.2 ms of GPU work per forward-backward pass at batch
# 128 (an attack step's input gradient about 2/3 of that); whichever is longer, plus 0.5 ms a step in which
# the two do not overlap (the review's ST: about 2.7 ms a step against 2.2 ms of GPU work).
LAUNCH_MS = 0.010
LAUNCHES = {"standard": 209, "sam": 624}
LAUNCHES_PER_ATTACK_STEP = 171
GPU_PASS_MS = 2.2
ATTACK_PASS_SHARE = 2 / 3
UNOVERLAPPED_MS = 0.5
TEST_PASS_S = 0.3  # the clean test pass after every epoch: 10,000 images forward at a large batch
TRAIN_IMAGES = 50_000
EVAL_IMAGES = 10_000  # the full scale evaluates on the whole test set; an attack may take the first N of it

# ---- Evaluation on 10,000 test images, attacks searching in TF32 and every outcome scored in true fp32.
# PGD-10 at one budget: 10 input-gradient passes over 10,000 images at about 35 us an image-pass in TF32,
# about 3.5 s, taken as 0.1 minute with its chunks' overhead. AutoAttack (standard) at one budget: about 5
# minutes for an adversarially trained model (issue #45's review: 4-6 minutes with TF32 for AT-Linf-8 on all
# 10,000 images), 1.5 for ST and SAM, whose images nearly all fall to APGD-CE, the first of its four attacks
# (issue #47's target for an ST model is 2 minutes).
PGD_BUDGET_MIN = 0.1
AUTOATTACK_MIN = {"robust": 5.0, "not robust": 1.5}
# With a probe's attack throughput (PGD-10 at Linf 8/255 on 512 images of an eval-mode PreActResNet-18, in
# TF32 and in strict fp32: `attack/tf32`, `attack/ieee`), evaluation is counted from it: PGD-10 at one budget
# is its search over 10,000 images in TF32 and their scoring in strict fp32 (a forward: at most one of the
# 11 passes of a strict PGD-10); AutoAttack at one budget on a model that is not robust is APGD-CE's 100
# iterations (10 PGD-10s of work) over at most all 10,000 images in TF32, then AUTOATTACK_TAIL_MIN for its
# other three attacks on the few images APGD-CE leaves: hundreds of sequential iterations whatever their
# number (bench's briefly trained standard model on the H200, 54 images left to them: 32 s for the whole
# AutoAttack, benchmarks/nvidia-h200-autoattack.json). A robust model's AutoAttack keeps its estimate.
APGD_CE_PGD10S = 10
AUTOATTACK_TAIL_MIN = 0.5

# ---- The window (WINDOWS.md): the machine's start before its first call (the convention WINDOWS.md
# states for the minutes left before a first call), a data call (a part of CIFAR-10 in; the last one
# unpacks: seconds), the GPU tests (first window only: imports, collection, a few minutes of tests), and
# a stint's own start (python and torch, CUDA, the data set onto the GPU, the model built and restored).
START = MACHINE_START
# The second window measured the data calls: 0.4 s of command each, 6-10 s held with the part's upload
# (benchmarks/nvidia-h200-calls.md); 0.1 minute each beside the workstation's turn. The GPU tests take no call of
# their own: they run beside the stint (`test` after `start`, as the second window ran them), on minutes the
# `wait` calls would hold the machine for anyway.
DATA_CALL = GAP + 0.1
STINT_START = 0.5
DATA_PARTS = (
    3  # ops/remote-gpu/gpu_data_parts.py cuts CIFAR-10 into 3 parts with today's tree (tests/test_gpu_plan.py checks)
)


@dataclass
class Model:
    name: str
    train: float  # minutes
    evaluate: float
    done_train: float = 0.0
    done_evaluate: float = 0.0
    measured: bool = False  # its training step is a probe's median, not the estimate
    gain: float = 1.0  # its training's speed-up at the probe's chosen step mode (probe_choice)
    evaluation_measured: bool = False  # its evaluation counted from a probe's attack throughput alone
    ran: str = ""  # what a full-scale run measured of it (`with_state`): "" none, "train", "train, evaluate"
    stands: str = ""  # where its full-scale run stands (`with_state`): "", "done", "21 of 100 epochs"
    method: str = "standard"  # what K cells at once are counted by (ops/remote-gpu/gpu_lanes.py)

    @property
    def finished(self) -> bool:
        return self.done_train >= self.train - 1e-9 and self.done_evaluate >= self.evaluate - 1e-9


@dataclass
class Call:
    what: str
    minutes: float
    work: list[str] = field(default_factory=list)
    stint: float = 0.0  # a `start` call's stint, in minutes


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


def probe_attack_rates(path: str | Path) -> dict[str, float] | None:
    """{"tf32": images/s, "ieee": images/s} of the probe's PGD-10 (its attack parts), or None if it has none."""
    from sam_bench.bench.probe import read

    parts = read(path, error=SystemExit)["parts"]
    rates = {
        mode: ((parts.get(f"attack/{mode}") or {}).get("values", {}).get("images_per_s") or {}).get("median")
        for mode in ("tf32", "ieee")
    }
    return rates if all(rates.values()) else None


def spec_minutes(spec, robust: bool, rates: dict[str, float] | None) -> float:
    """Minutes of one attack spec (evaluation_block.evaluation_specs) on its images: estimated, or from a probe's
    attack `rates`. AutoAttack below RobustBench's budget (the claims' small budgets) counts as on a robust
    model whatever the model: a model that is not robust keeps many images past APGD-CE there (the full-scale
    ST and SAM-0.1: 8-81% under PGD-10), and the later attacks' work is on those."""
    from sam_bench.eps import parse_eps
    from sam_bench.evaluation.specs import ROBUSTBENCH_BUDGETS

    share = (spec.n_examples or EVAL_IMAGES) / EVAL_IMAGES
    if spec.attack == "clean":
        return 0.0
    if spec.attack == "pgd":
        if rates is None:
            return PGD_BUDGET_MIN * share
        return share * (EVAL_IMAGES / rates["tf32"] + EVAL_IMAGES / rates["ieee"] / 11) / 60
    if robust or spec.eps < parse_eps(ROBUSTBENCH_BUDGETS[spec.norm]) - 1e-9:
        return AUTOATTACK_MIN["robust"] * share
    if rates is None:
        return AUTOATTACK_MIN["not robust"] * share
    return APGD_CE_PGD10S * share * EVAL_IMAGES / rates["tf32"] / 60 + AUTOATTACK_TAIL_MIN


def evaluation_minutes(specs: list, robust: bool, rates: dict[str, float] | None) -> float:
    """Minutes to evaluate a model with these attack specs (each on its own share of the 10,000 test images)."""
    return sum(spec_minutes(spec, robust, rates) for spec in specs)


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


def model_costs(
    names: list[str] | None,
    measured: dict[tuple[str, int | None], float] | None = None,
    choice=None,
    attack_rates: dict[str, float] | None = None,
) -> list[Model]:
    """The full scale's models (or `names`, in that order) with their estimated minutes; a training step
    in `measured` ({(method, attack steps or None): ms}, `probe_steps`) replaces its estimate, and a
    probe's `choice` (probe_choice.Choice) divides the training by its gain for the model's method."""
    from sam_bench.recipes.evaluation_block import evaluation_specs
    from sam_bench.recipes.recipe import load_recipe
    from sam_bench.training import method_table as table

    recipe = load_recipe("paper-cifar10", "full", device="cuda")
    plans = {m.name: m for m in recipe.models if m.primary}
    unknown = [n for n in names or [] if n not in plans]
    if unknown:
        raise SystemExit(f"gpu_plan: the full scale has no model {unknown[0]!r}; it has {', '.join(plans)}")
    specs = evaluation_specs(recipe.evaluation)
    models = []
    for name in names or list(plans):
        cfg = plans[name].config
        steps = math.ceil(TRAIN_IMAGES / cfg.batch_size) * cfg.epochs
        key = (cfg.method, cfg.attack_steps if table.uses_attack(cfg.method) else None)
        ms = (measured or {}).get(key)
        step = ms if ms is not None else step_ms(cfg.method, cfg.attack_steps) * calibration(key, measured)
        gain = 1.0 if choice is None else choice.training_gain(cfg.method)
        train = (steps * step / 1000 / gain + cfg.epochs * TEST_PASS_S) / 60
        robust = table.uses_attack(cfg.method)
        evaluate = evaluation_minutes(specs, robust, attack_rates)
        from_rates = attack_rates is not None and not robust
        models.append(
            Model(
                name,
                train,
                evaluate,
                measured=ms is not None,
                gain=gain,
                evaluation_measured=from_rates,
                method=cfg.method,
            )
        )
    return models


def signature_of_spec(spec, images: int | None = None) -> tuple:
    """An attack spec's signature (sam_bench.report.grid_minutes: what makes two evaluations the same work);
    `images`: its evaluation block's `n_examples`, for a spec without its own (the full scale's: all 10,000 when
    None)."""
    return grid_minutes.signature_of_spec(spec, images or EVAL_IMAGES)


def with_state(models: list[Model], folder: str | Path, rates: dict[str, float] | None = None) -> list[Model]:
    """The models as a full-scale reproduction `folder` left them, at the minutes its runs took on the GPU
    (sam_bench/report/gpu_minutes.py: training's and evaluation's wall time):

    - a model whose first seed has a results file with every evaluation the recipe asks is done;
    - one whose results lack some (the recipe gained attacks since) is trained and is evaluated again, all of
      it, as `reproduce` does when a results file's evaluation key changes: what it had at the minutes they
      took, what it lacks as estimated, less what the chunks of its evaluation state (a stint stopped it) took;
    - a run stopped mid-way is trained as far as its log's epochs, its training counted at its own median epoch;
    - a model not yet run trains in a finished run's minutes where it shares that run's step (the same method
      and attack steps: SAM-0.2's is SAM-0.1's), and, if it is not robust, evaluates each attack in the mean
      minutes the not-robust runs took for it (the probe counts APGD-CE over every image, while on a trained
      model AutoAttack's later attacks see only what APGD-CE leaves); the rest as estimated (`spec_minutes`)."""
    import json
    import statistics

    from sam_bench.experiments.reproduction import evaluation_state_path
    from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs
    from sam_bench.recipes.recipe import load_recipe
    from sam_bench.report import gpu_minutes
    from sam_bench.report.folder import Folder
    from sam_bench.training import method_table as table

    folder = Path(folder)
    recipe = load_recipe("paper-cifar10", "full", device="cuda")
    plans = {m.name: m for m in recipe.models if m.primary}
    records = [r for r in Folder.load(folder).records if r.primary and r.key == plans[r.name].key]
    ran = {row["name"]: row for row in gpu_minutes.rows(records)}

    def robust(name: str) -> bool:
        return table.uses_attack(plans[name].config.method)

    def evaluations(record) -> dict[tuple, float]:  # signature -> minutes the record's evaluation took
        return {signature_of_result(e): float(e.seconds or 0.0) / 60 for e in record.results.evaluations}

    took = {r.name: evaluations(r) for r in records if r.name in ran and ran[r.name]["evaluation_min"]}
    not_robust: dict[tuple, list[float]] = {}
    for name, minutes in took.items():
        if not robust(name):
            for signature, m in minutes.items():
                not_robust.setdefault(signature, []).append(m)

    def evaluation(name: str) -> tuple[float, bool, list[tuple], float]:
        """(minutes, whether any of them were measured, the recipe's attacks its results lack, the minutes of
        those it has: a new evaluation carries them over, sam_bench.evaluation.carry_over)."""
        total, measured, missing, kept = 0.0, False, [], 0.0
        own = took.get(name, {})
        for spec in evaluation_specs(evaluation_for(plans[name], recipe.evaluation)):
            signature = signature_of_spec(spec)
            if signature in own:
                total, measured, kept = total + own[signature], True, kept + own[signature]
                continue
            if name in took:
                missing.append(signature)
            if signature in not_robust and not robust(name):
                total, measured = total + statistics.mean(not_robust[signature]), True
            else:
                total += spec_minutes(spec, robust(name), rates)
        return total, measured, missing, kept

    def resumed(m: Model) -> str:  # what the model's evaluation state (a stint stopped it) holds, counted in m
        plan = plans[m.name]
        block = evaluation_for(plan, recipe.evaluation)
        wanted = chunks_wanted(evaluation_specs(block), block.get("n_examples") or EVAL_IMAGES)
        return resume_evaluation(m, evaluation_state_path(folder, plan), wanted)

    def step_of(name: str) -> tuple[str, int | None]:  # what a training step costs depends on this alone
        config = plans[name].config
        return config.method, config.attack_steps if table.uses_attack(config.method) else None

    same_step = {step_of(n): row["training_min"] for n, row in ran.items() if row["training_min"] is not None}
    out = [dataclasses.replace(m) for m in models]
    for m in out:
        row, plan = ran.get(m.name), plans[m.name]
        evaluate, evaluation_ran, missing, kept = evaluation(m.name)
        if evaluation_ran:
            m.evaluate, m.evaluation_measured, m.ran = evaluate, False, "evaluate"
        if row is not None:
            m.train = row["training_min"] if row["training_min"] is not None else m.train
            m.done_train, m.measured = m.train, False
            m.ran = "train, evaluate" if evaluation_ran else "train"
            if missing:
                m.done_evaluate = kept  # carried over; an evaluation state, where a stint left one, counts instead
                m.stands = f"trained; to evaluate again, with {len(missing)} attacks it lacks"
                m.stands += resumed(m)
            else:
                m.done_evaluate, m.stands = m.evaluate, "done"
            continue
        if step_of(m.name) in same_step:  # e.g. SAM-0.2 at SAM-0.1's minutes: the same step
            m.train, m.measured = same_step[step_of(m.name)], False
            m.ran = "train" + (", evaluate" if evaluation_ran else "")
        log = folder / "runs" / f"{m.name}-{plan.key}" / "log.jsonl"
        epochs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
        epochs = [e for e in epochs if "epoch" in e and "seconds" in e]
        if epochs:
            m.train = statistics.median(e["seconds"] for e in epochs) * plan.config.epochs / 60
            m.done_train = m.train * len(epochs) / plan.config.epochs
            m.measured, m.ran = False, "train" + (", evaluate" if evaluation_ran else "")
            m.stands = f"{len(epochs)} of {plan.config.epochs} epochs"
            if len(epochs) >= plan.config.epochs:  # trained: a stint may have stopped its evaluation mid-way
                m.stands += resumed(m)
    return out


def chunks_wanted(specs: list, n_examples: int) -> Counter:
    """How many chunks of each image count an evaluation of `specs` cuts on one GPU process (`--chunk-size auto`,
    sam_bench.evaluation.batching): AutoAttack's chunks are smaller than the other attacks'."""
    import torch

    from sam_bench.evaluation.batching import chunk_size_for

    wanted: Counter = Counter()
    for spec in specs:
        n = spec.n_examples or n_examples
        size = chunk_size_for(torch.device("cuda"), n, 1, spec.attack)
        wanted.update([size] * (n // size) + ([n % size] if n % size else []))
    return wanted


def resume_evaluation(m: Model, path: Path, wanted: Counter) -> str:
    """Count what an evaluation state (a stint stopped the evaluation) holds as done, and what it lacks as left:
    its chunks of each image count against the ones the evaluation cuts (`wanted`); each chunk it lacks at the
    minutes its slowest own chunk of that image count took (of all its chunks where it has none of that count:
    an AutoAttack chunk at a small budget, where most images survive APGD-CE, takes minutes where one at a large
    budget takes seconds), and never less than the estimate less what is done. Minutes alone cannot tell: an
    estimate below what the chunks took would call an evaluation done that still lacks chunks. Returns the
    phrase for `stands`."""
    from sam_bench.evaluation.chunk_state import ChunkState

    chunks = list(ChunkState(path).chunks.values())  # none where there is no state (or a damaged one)
    if not chunks:
        return ""
    minutes = sum(float(c.get("seconds") or 0.0) for c in chunks) / 60
    have = Counter(int(c["n"]) for c in chunks)
    slowest = {n: max(float(c.get("seconds") or 0.0) for c in chunks if c["n"] == n) / 60 for n in have}
    lacking = {n: count - have[n] for n, count in wanted.items() if count > have[n]}
    left = sum(count * slowest.get(n, max(slowest.values())) for n, count in lacking.items())
    if lacking:
        left = max(left, m.evaluate - minutes)
    m.evaluate, m.done_evaluate = minutes + left, minutes
    of = sum(wanted.values())
    return f" ({min(len(chunks), of)} of {of} chunks of its evaluation done: {minutes:.1f} minutes)"


WEIGHTS_PER_CALL = 2  # a full-width PreActResNet-18's fp16 weights (21.3 MiB): two fit beside the tree in a call
WANTED = 4  # the windows planned by default: until the first four of the queue not yet done are done
MAX_WINDOWS = 40


def stopped_midway(models: list[Model]) -> int:
    """How many trainings a stint stopped mid-way: their checkpoints go to the next machine."""
    return sum(1 for m in models if 0 < m.done_train < m.train - 1e-9)


def inbox_calls(checkpoints: int) -> int:
    """`inbox` calls before the stint for this many checkpoints: packed in batches of INBOX_BATCH_MIB, the last
    one carried by the `start` call itself (WINDOWS.md section 3)."""
    return max(0, math.ceil(checkpoints * CHECKPOINT_MIB / INBOX_BATCH_MIB) - 1)


def plan(
    models: list[Model],
    windows: int | None = None,
    window: float = WINDOW,
    lanes: int = 1,
    speeds: Speeds | None = None,
    probe_first: bool = False,
) -> list[tuple[list[Call], list[str]]]:
    """Per window of `window` minutes: its calls, and the models finished by its end; `windows` None: as many as
    it takes to finish the first WANTED models of the queue not yet done (at most MAX_WINDOWS). `lanes` models
    at once (`--parallel`) at `speeds` (gpu_lanes.py): a stint may stop as many trainings mid-way, so it is
    sized for their checkpoints to come back (gpu_window.batches_for) and the next window carries them in.
    `probe_first`: the first window starts with the probe of K models at once (ops/remote-gpu/gpu_prepare.py)."""
    out = []
    carry = stopped_midway(models)
    wanted = [m for m in models if not m.finished][:WANTED]
    batches = batches_for(lanes)
    for _ in range(windows or MAX_WINDOWS):
        if windows is None and out and all(m.finished for m in wanted):
            break
        left = window - START
        calls = [Call("the machine starts", START)]
        if probe_first and not out:
            what = "`probe`: K models at once and an evaluation beside training (ops/remote-gpu/gpu_prepare.py)"
            calls.append(Call(what, ARRANGEMENT_PROBE_MINUTES))
        for part in range(1, DATA_PARTS + 1):
            calls.append(Call(f"`data` (part {part} of {DATA_PARTS})", DATA_CALL))
        # A model trained in an earlier window and not yet evaluated to its end is evaluated from its committed
        # weights, which the machine's copy of the tree (no .git) cannot fetch: gpu_weights.py carries them
        to_evaluate = sum(1 for m in models if m.done_train >= m.train - 1e-9 and not m.finished)
        for part in range(1, math.ceil(to_evaluate / WEIGHTS_PER_CALL) + 1):
            calls.append(Call(f"`weights` (part {part}): the zoo weights of the models to evaluate", DATA_CALL))
        inbox = inbox_calls(carry)
        for batch in range(1, inbox + 1):
            what = "the unfinished run's checkpoint, first batch" if carry == 1 else f"{carry} unfinished runs'"
            what += "" if carry == 1 else f" checkpoints, batch {batch} of {inbox + 1}"
            calls.append(Call(f"`inbox`: {what}", DATA_CALL))
        left -= sum(c.minutes for c in calls[1:])
        # The stint runs in the background (`start`), bound by the window rather than by a command's 10
        # minutes, while `wait` calls follow one another; so one stint takes the rest of the window
        while left > 0:  # (a window too short for its data calls has none left)
            try:
                stint = background_minutes(left, batches=batches)
            except TooLittleTime:
                break
            done = work(models, stint - STINT_START, lanes, speeds)
            sends = (batches - 1) * SEND
            what = (
                f"`start`: a stint of {stint:.1f} minutes in the background; `wait` until it has packed,"
                f" then {batches - 1} `send`s"
            )
            calls.append(Call(what, GAP + stint + PACK + GAP + sends, done, stint))
            left -= GAP + stint + PACK + GAP + sends
            if all(m.finished for m in models):
                break
        if not any(c.stint for c in calls):
            raise SystemExit(
                f"gpu_plan: a {window:g}-minute window leaves no time for a stint after the machine's start and its"
                " data calls"
            )
        carry = stopped_midway(models)
        out.append((calls, [m.name for m in models if m.finished]))
        if all(m.finished for m in models):
            break
    return out


def lanes_for(models: list[Model], choice, window: float = WINDOW) -> tuple[int, str]:
    """The K the stints run with, and a sentence where it is not the probe's: of the Ks the probe's choice took
    on its way up (`ladder`), the one whose windows finish the first WANTED models not yet done soonest (then
    the most in the first window, then the smaller K). K at once gains what the probe measured, but each run a
    stint stops mid-way is a checkpoint (CHECKPOINT_MIB) to bring back and carry in again, in `send` and
    `inbox` calls the window pays for."""
    if choice is None or len(choice.ladder) == 1:
        return 1, ""
    outcome = {}
    for k in choice.ladder:
        windows = plan([dataclasses.replace(m) for m in models], None, window, *speeds_for(choice, k))
        outcome[k] = (len(windows), -len(windows[0][1]), k)
    best = min(outcome, key=outcome.__getitem__)
    if best == choice.parallel:
        return best, ""
    said = ", ".join(f"K={k} after {o[0]}" for k, o in outcome.items())
    return best, (
        f" The stints run K={best}, not the probe's {choice.parallel}: of its Ks, the one whose {window:g}-minute"
        f" windows finish the first {WANTED} models not yet done soonest ({said}), as each run a stint stops"
        " mid-way is a checkpoint to bring back and carry in."
    )


def render(
    models: list[Model],
    windows: int | None = None,
    probe: str | None = None,
    choice=None,
    state: str | None = None,
    window: float = WINDOW,
) -> tuple[str, str]:
    """(the markdown plan, the one-paragraph summary for the README beside it); `probe`: where the measured
    training steps came from (the probe file and its device); `choice`: the step mode and K it picked;
    `state`: the reproduction folder the models' progress and run minutes come from (`with_state`)."""
    costs = [dataclasses.replace(m) for m in models]  # as before the windows planned
    lanes, lowered = lanes_for(costs, choice, window)
    head = (
        "Estimated GPU minutes per model (H100, eager steps at batch 128, derivation in `ops/remote-gpu/gpu_plan.py`):"
    )
    if probe is not None:
        head = (
            f"GPU minutes per model ({'eager steps' if choice is None else 'steps'} at batch 128; training "
            "marked * from the eager steps and evaluation marked * from the attacks' throughput (as "
            f"`ops/remote-gpu/gpu_plan.py` derives it) measured by "
            f"{probe}, the rest estimated as derived in `ops/remote-gpu/gpu_plan.py`):"
        )
    if choice is not None:
        head += (
            f" Its ratios pick `{' '.join(choice.options())}` for the stints and `{choice.recipe_line()}` for "
            "the scale, set in a commit before its first stint ("
            + "; ".join(choice.reasons)
            + "); training is counted at the mode's speed-up (for a method with a capturable step)."
            + sentence(choice, lanes, ARRANGEMENT_PROBE_MINUTES)
            + lowered
        )
    if state is not None:
        head += (
            f" Marked †: what the full scale's own runs took on the GPU (`{state}`, as its report's Compute section"
            " counts it; a run stopped mid-way at its median epoch; a model not yet evaluated that is not robust at"
            " the mean of those that were); the windows start from where that folder stands."
        )
    lines = [
        head,
        "",
        "| model | training | evaluation (10,000 images: PGD-10 at every budget, AutoAttack) | together |"
        + (" where it stands |" if state is not None else ""),
        "| --- | --- | --- | --- |" + (" --- |" if state is not None else ""),
    ]
    lines += [
        f"| {m.name} | {m.train:.1f}{'*' if m.measured else ''}{'†' if 'train' in m.ran else ''} "
        f"| {m.evaluate:.1f}{'*' if m.evaluation_measured else ''}{'†' if 'evaluate' in m.ran else ''} "
        f"| {m.train + m.evaluate:.1f} |" + (f" {m.stands} |" if state is not None else "")
        for m in costs
    ]
    pending = choice is not None and probe_pending(choice)
    windows_planned = plan(models, windows, window, *speeds_for(choice, lanes), probe_first=pending)
    finished_after = [finished for _, finished in windows_planned]
    # Every window after the second makes the second's calls (a machine starts bare: the data again, the
    # unfinished run's checkpoint): the first two in full, then one line a window
    for number, (calls, finished) in enumerate(windows_planned[:2], 1):
        lines += ["", f"Window {number}:", "", "| # | call | minutes | work done |", "| --- | --- | --- | --- |"]
        lines += [f"| {i} | {c.what} | {c.minutes:.1f} | {'; '.join(c.work)} |" for i, c in enumerate(calls, 1)]
        used = sum(c.minutes for c in calls)
        done = ", ".join(finished) or "none"
        lines += ["", f"{used:.1f} of {window:g} minutes; trained and evaluated by its end: {done}."]
    if len(windows_planned) > 2:
        lines += [
            "",
            "Every later window makes window 2's calls, with `weights` calls before its stint where a model"
            " trained in an earlier window is still to be evaluated (its committed weights), and `inbox` calls where"
            " the last stopped trainings mid-way (their checkpoints); its stint's work:",
            "",
            "| window | `weights` | `inbox` | the stint | the stint's work | trained and evaluated by its end |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {number} | {sum(1 for c in calls if c.what.startswith('`weights`'))} "
            f"| {sum(1 for c in calls if c.what.startswith('`inbox`'))} "
            f"| {sum(c.stint for c in calls):.1f} | {'; '.join(w for c in calls for w in c.work)} "
            f"| {', '.join(finished) or 'none'} |"
            for number, (calls, finished) in enumerate(windows_planned[2:], 3)
        ]
    speeds = (
        "the estimated speeds" if probe is None else f"the speeds measured by {probe} (estimated where it has none)"
    )
    training = "eager training steps"
    if choice is not None:
        training = f"training at the probe's choice of step mode and K ({choice.step_mode}, K={lanes})"
    already = [m.name for m in costs if m.finished]
    started = [m.name for m in costs if not m.finished and (m.done_train > 0 or m.done_evaluate > 0)]
    if state is not None:
        speeds += f" and the full scale's own runs (`{state}`)"
    summary = f"At {speeds} ({training}; attacks searching in TF32, scored in true fp32; `ops/remote-gpu/gpu_plan.py`, "
    summary += "WINDOWS.md)"
    today = " (a session's device time today)" if window == WINDOW else ""
    if already or started:
        where = [f"{_names(already)} done" if already else "", f"{_names(started)} under way" if started else ""]
        summary += (
            f", from where the full scale stands ({' and '.join(filter(None, where))}), the next {window:g}-minute "
            f"window{today} finishes (trained and evaluated on all 10,000 test images) "
            + _names([n for n in finished_after[0] if n not in already])
        )
    else:
        summary += (
            f" one {window:g}-minute window{today} trains and evaluates on all 10,000 test "
            f"images {_names(finished_after[0])}"
        )
    firsts = windows_until(finished_after, already)
    if len(finished_after) > 1 and firsts:
        summary += f"; windows until a model is trained and evaluated: {_names(firsts)}"
    per_window = [len(set(f) - set(b)) for b, f in zip([already, *finished_after], finished_after, strict=False)]
    summary += f"; models trained and evaluated per window: {', '.join(map(str, per_window))}"
    return "\n".join(lines) + "\n", summary + "."


def windows_until(finished_after: list[list[str]], already: list[str]) -> list[str]:
    """ "NAME after N" for each model the windows finish that was not done before them."""
    return [
        f"{name} after {next(i for i, f in enumerate(finished_after, 1) if name in f)}"
        for name in finished_after[-1]
        if name not in already
    ]


def _names(names: list[str]) -> str:
    if not names:
        return "no model"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


MARKERS = {
    Path(__file__).with_name("WINDOWS.md"): ("<!-- gpu-plan start -->", "<!-- gpu-plan end -->", 0),
    Path(__file__).with_name("README.md"): ("<!-- gpu-plan-summary start -->", "<!-- gpu-plan-summary end -->", 1),
}


# The probe the docs' plan is rendered from: the newest GPU window's, at the full scale's network and batch
DOCS_PROBE = ROOT / "benchmarks" / "nvidia-h200-probe.json"
# A later, shorter probe of K models at once and of evaluation beside training in the step mode DOCS_PROBE
# picked (WINDOWS.md: a window's first call, until it is committed), read with it where it is committed
DOCS_ARRANGEMENT = ROOT / "benchmarks" / "nvidia-h200-arrangement-probe.json"
# The full-scale reproduction the docs' plan starts from (`with_state`)
DOCS_STATE = ROOT / "reproductions" / "paper-cifar10-full"


def docs_arrangement() -> str | None:
    """DOCS_ARRANGEMENT (relative to the checkout) where it is committed, else None."""
    return str(DOCS_ARRANGEMENT.relative_to(ROOT)) if DOCS_ARRANGEMENT.is_file() else None


def docs_probes() -> list[str]:
    """The committed probe records the docs' plan reads: DOCS_PROBE, and DOCS_ARRANGEMENT where committed."""
    return [str(DOCS_PROBE.relative_to(ROOT)), *filter(None, [docs_arrangement()])]


def arrangement_measured(paths: list[str] | None = None) -> bool:
    """Whether probe records (by default the committed ones) timed K models at once and an evaluation beside
    training in the step mode they pick."""
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    return not probe_pending(choose(*(read(ROOT / path, error=SystemExit) for path in paths or docs_probes())))


# The docs' plan is today's window; beside it, in one sentence, a 30-minute one (a session's device time once; the
# device README says 15 minutes "at present"), so that what the plan would do with a longer window is a rendered
# figure, not a guess
DOCS_ALSO_AT = 30.0


def rendered_from(
    probe: str | None,
    names: list[str] | None = None,
    windows: int | None = None,
    state: str | None = None,
    window: float = WINDOW,
    also_at: float | None = None,
    arrangement_probe: str | None = None,
) -> tuple[str, str]:
    """`render` at a probe record's measured steps and choice (`probe` None or 'none': the estimates alone),
    with `arrangement_probe`'s ratios of K models at once read beside it (None or 'none': none), from where the
    reproduction folder `state` stands (None or 'none': before any window), in windows of `window` minutes;
    with `also_at`, both parts end with a sentence saying how many windows of that many minutes the same queue
    takes."""
    state = None if state in (None, "none") else state
    if probe in (None, "none"):
        costs, source, choice = model_costs(names), None, None
    else:
        from sam_bench.bench.probe_choice import choose

        measured, device = probe_steps(probe)
        records = [full_scale_probe(probe)]
        source = f"`sam-bench bench --probe` on {device} (`{probe}`)"
        if arrangement_probe not in (None, "none"):
            records.append(full_scale_probe(arrangement_probe))
            other = records[1]["environment"]["device_name"]
            source += f" and its K models at once on {other} (`{arrangement_probe}`)"
        choice = choose(*records)
        costs = model_costs(names, measured, choice, probe_attack_rates(probe))
    if state is not None:
        costs = with_state(costs, ROOT / state, None if probe in (None, "none") else probe_attack_rates(probe))
    before = [dataclasses.replace(m) for m in costs]  # render's windows move the models on
    text, summary = render(costs, windows, source, choice, state, window)
    if also_at is None:
        return text, summary
    already = [m.name for m in before if m.finished]
    lanes = lanes_for(before, choice, also_at)[0]
    pending = choice is not None and probe_pending(choice)
    finished_after = [
        finished for _, finished in plan(before, None, also_at, *speeds_for(choice, lanes), probe_first=pending)
    ]
    other = (
        f"With {also_at:g}-minute windows instead (the device time a session once had), the"
        f" same calls and costs finish {_names(windows_until(finished_after, already))}."
    )
    return f"{text}\n{other}\n", f"{summary} {other}"


def stints_choice(paths: list[str], state: str | None = None):
    """(the probe records' choice, the K the stints run with, the sentence where it is not the choice's): records
    of the full scale's network (the full probe first) are planned from where `state` stands (`lanes_for`);
    others (a small rehearsal's) keep the choice's K."""
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    records = [read(path, error=SystemExit) for path in paths]
    picked = choose(*records)
    s = records[0]["settings"]
    if picked.parallel == 1 or (s.get("arch"), s.get("width"), s["batch_size"]) != ("preactresnet18", 1.0, 128):
        return picked, picked.parallel, ""
    models = model_costs(None, probe_steps(paths[0])[0], picked, probe_attack_rates(paths[0]))
    if state not in (None, "none"):
        models = with_state(models, ROOT / state, probe_attack_rates(paths[0]))
    lanes, lowered = lanes_for(models, picked)
    return picked, lanes, lowered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        help=f"how many windows to plan (default: until the first {WANTED} models not yet done are)",
    )
    parser.add_argument("--models", default=None, help="the full scale's models to plan, in order (default: all)")
    parser.add_argument(
        "--window",
        type=float,
        default=WINDOW,
        metavar="MINUTES",
        help="a window's device time in minutes (default: %(default)g, a session's today)",
    )
    parser.add_argument(
        "--write", action="store_true", help="render into WINDOWS.md and README.md's markers (beside this tool)"
    )
    parser.add_argument(
        "--probe",
        default=str(DOCS_PROBE.relative_to(ROOT)),
        metavar="FILE",
        help="a `sam-bench bench --probe` record: its measured eager steps; 'none': the estimates alone "
        "(default: %(default)s, the one the docs are rendered from)",
    )
    parser.add_argument(
        "--state",
        default=str(DOCS_STATE.relative_to(ROOT)),
        metavar="FOLDER",
        help="the full-scale reproduction to plan on from: its finished models and runs' GPU minutes; 'none': "
        "before any window (default: %(default)s)",
    )
    parser.add_argument(
        "--arrangement",
        default=docs_arrangement() or "none",
        metavar="FILE",
        help="a shorter probe record of K models at once and of evaluation beside training, read with --probe's "
        "ratios; 'none': none (default: %(default)s)",
    )
    parser.add_argument(
        "--choose",
        nargs="+",
        default=None,
        metavar="FILE",
        help="print the reproduce option the stints take (--parallel K) from probe records read together (the full "
        "probe first), planned from --state where they timed the full scale, and stop",
    )
    args = parser.parse_args(argv)
    if args.choose:
        picked, lanes, lowered = stints_choice(args.choose, args.state)
        print(f"{'; '.join(picked.reasons)}; the scale's step mode: {picked.recipe_line()}.{lowered}", file=sys.stderr)
        print(f"--parallel {lanes}")
        return 0
    if args.windows is not None and args.windows < 1:
        parser.error("--windows must be 1 or more")
    if not 0 < args.window < math.inf:
        parser.error("--window must be a number of minutes above 0")
    names = [n.strip() for n in args.models.split(",")] if args.models else None
    also_at = DOCS_ALSO_AT if args.window == WINDOW else None  # today's window, and the longer one beside it
    rendered = rendered_from(args.probe, names, args.windows, args.state, args.window, also_at, args.arrangement)
    if not args.write:
        print(rendered[0] + "\n" + rendered[1])
        return 0
    from sam_bench.bench import marked_block
    from sam_bench.errors import BadInput

    for path, (start, end, which) in MARKERS.items():
        try:
            marked_block.replace(path, start, end, rendered[which].strip())
        except BadInput as err:
            raise SystemExit(f"gpu_plan: {err}") from None
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
