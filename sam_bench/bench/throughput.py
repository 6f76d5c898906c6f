"""How fast sam-bench trains and attacks, measured side by side with the paper's own loop.

    result = run_bench(device="auto", methods=("standard", "sam", "at"), batch_size=512)

Training throughput: `steps` training steps of `sam_bench.methods.train_step` on a `DeviceLoader`
(uint8 images resident on the device, augmented there), as `sam_bench.train` runs them
(channels_last where `sam_bench.memory_format` allows it; bf16 autocast on a GPU, optionally
torch.compile), after `warmup` untimed steps,
`repeats` times. In the same process the paper's loop (`sam_bench.paper_loop`: DataLoader + PIL
transforms, fp32, batch 128) trains the same architecture on the same images for as many images
per repetition. Both clocks are read after a CUDA synchronize, and both include getting the batch.

Evaluation throughput: PGD-10 (Linf 8/255, step 2/255, `sam_bench.attacks.pgd`) images/s on a
model in eval mode, fp32; and AutoAttack (standard, Linf 8/255) seconds per 1,000 images through
`sam_bench.evaluate.evaluate`, on a briefly standard-trained and a briefly AT-trained model
(`sam_bench.train.train` on the bundled real CIFAR-10 sample) or on given models. AutoAttack's time
depends on how many points are still correct after each of its attacks, so clean and robust
accuracy and the per-attack breakdown are recorded beside the seconds.

Images are synthetic (random uint8 with a learnable class pattern): throughput does not depend on
what the pixels show. The layout of the result is documented in docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import itertools
import os
import platform
import re
import statistics
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from sam_bench import clock, math_mode
from sam_bench.errors import BadInput
from sam_bench.memory_format import EVALUATION, PAPER_LOOP, place, training_format

SCHEMA = "sam-bench/bench/v1"
EPOCH_IMAGES = 50_000  # CIFAR-10's training set: "epoch seconds" = EPOCH_IMAGES / images_per_s


class AttackSettings(TypedDict):
    norm: str
    eps: str
    steps: int
    step_size: str


ATTACK: AttackSettings = {
    "norm": "Linf",
    "eps": "8/255",
    "steps": 10,
    "step_size": "2/255",
}  # the paper's Linf 8/255 AT / PGD-10
DEFAULT_METHODS = ("standard", "sam", "at")
# The targets: PreActResNet-18, CIFAR-10, one H100, batch 512.
GPU_TARGETS = {
    "standard_epoch_s": 1.0,
    "sam_epoch_s": 2.0,
    "at_epoch_s": 8.0,
    "standard_x_paper": 8.0,
    "sam_x_paper": 8.0,
    "autoattack_10k_s": 120.0,
}

DEFAULTS = dict(
    device="auto",
    methods=DEFAULT_METHODS,
    batch_size=512,
    n_images=50_000,
    steps=20,
    repeats=5,
    warmup=2,
    arch="preactresnet18",
    width=1.0,
    arch_kwargs=None,
    precision="auto",
    compile=False,
    rho=0.05,
    paper_loop=True,
    paper_batch_size=128,
    paper_workers=0,
    evaluation=True,
    pgd_images=4096,
    aa_images=1000,
    aa_batch_size=500,
    aa_train_epochs=10,
    aa_train_images=None,
    models=(),
    data_dir=None,
    seed=0,
    threads=None,
    commit=None,
)
# Tiny CPU settings (CI): seconds, not minutes.
QUICK = dict(
    device="cpu",
    batch_size=16,
    n_images=64,
    steps=2,
    repeats=2,
    warmup=1,
    width=0.0625,
    paper_batch_size=8,
    pgd_images=16,
    aa_images=4,
    aa_batch_size=4,
    aa_train_epochs=1,
    aa_train_images=32,
    threads=1,
)


def device_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (the default results file name)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def summarize(values: list[float]) -> dict:
    return {"runs": list(values), "median": statistics.median(values), "min": min(values), "max": max(values)}


def _sync(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _timed(step, batches, steps: int, warmup: int, repeats: int, sync) -> list[float]:
    """Seconds of `steps` calls of step(*next(batches)), `repeats` times, after `warmup` calls."""
    _reset_peak_memory()
    for _ in range(warmup):
        step(*next(batches))
    runs = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            step(*next(batches))
        sync()
        runs.append(time.perf_counter() - start)
    return runs


def _reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def synthetic_images(n: int, num_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 32, 32, 3) images: a blocky per-class colour pattern plus noise (learnable)."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 256, size=(num_classes, 4, 4, 3), dtype=np.uint8).repeat(8, 1).repeat(8, 2)
    y = rng.integers(0, num_classes, size=n).astype(np.int64)
    x = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(0, n, 4096):  # in pieces: a 50,000-image set never needs more than a few MB extra
        noise = rng.integers(0, 256, size=(min(4096, n - i), 32, 32, 3), dtype=np.uint16)
        x[i : i + 4096] = (patterns[y[i : i + 4096]].astype(np.uint16) * 3 + noise * 2) // 5
    return x, y


def _measurement(runs_s: list[float], images_per_run: int, batch_size: int, steps: int, **extra) -> dict:
    ips = summarize([images_per_run / s for s in runs_s])
    return {
        "batch_size": batch_size,
        "steps_per_run": steps,
        "images_per_run": images_per_run,
        "seconds": summarize(runs_s),
        "images_per_s": ips,
        "epoch_s": EPOCH_IMAGES / ips["median"],
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# Training throughput


def _fast_training(method, x, y, s, device) -> tuple[dict, torch.nn.Module]:
    from sam_bench.data import STATS, DeviceLoader
    from sam_bench.eps import parse_eps
    from sam_bench.models import create_model, make_spec
    from sam_bench.training import method_table as table
    from sam_bench.training.loop import TrainConfig, autocast_for, build_optimizer
    from sam_bench.training.methods import train_step

    autocast = autocast_for(s["precision"], device)
    torch.manual_seed(s["seed"])
    model = create_model(make_spec(s["arch"], 10, *STATS["cifar10"], s["width"], s.get("arch_kwargs")))
    layout = training_format(model, device)  # as train
    model = place(model, device, layout)
    loader = DeviceLoader(x, y, s["batch_size"], device, train=True, seed=s["seed"], memory_format=layout)
    batches = itertools.chain.from_iterable(loader.epoch(e) for e in itertools.count())
    cfg = TrainConfig(
        method=method,
        arch=s["arch"],
        width=s["width"],
        arch_kwargs=s.get("arch_kwargs"),
        batch_size=s["batch_size"],
        rho=s["rho"] if method in ("sam", "sam-at") else None,
        attack_norm=ATTACK["norm"],
        attack_eps=ATTACK["eps"],
        attack_steps=ATTACK["steps"],
        attack_step_size=ATTACK["step_size"],
        device=str(device),
        compile=s["compile"],
    ).validate()
    optimizer = build_optimizer(cfg, model)
    forward_model = torch.compile(model) if s["compile"] else model
    attack = cfg.attack() if table.uses_attack(method) else None
    loss_sum = torch.zeros((), device=device)
    seen = [0]

    def step(xb, yb):
        loss, _ = train_step(method, forward_model, optimizer, xb, yb, attack, autocast)
        loss_sum.add_(loss * len(yb))  # on the device, as the training loop does: no host sync per step
        seen[0] += len(yb)

    runs = _timed(step, batches, s["steps"], s["warmup"], s["repeats"], _sync(device))
    m = _measurement(
        runs,
        s["steps"] * s["batch_size"],
        s["batch_size"],
        s["steps"],
        precision="fp32" if autocast is nullcontext else "bf16",
        channels_last=layout == torch.channels_last,
        compile=s["compile"],
        passes_per_step=table.passes_per_step(method, ATTACK["steps"]),
        peak_memory_gib=_peak_memory_gib(device),
        mean_train_loss=loss_sum.item() / max(seen[0], 1),
        math_mode=math_mode.current(),
    )
    if table.uses_attack(method):
        m["attack"] = {**ATTACK, "eps_value": parse_eps(ATTACK["eps"])}
    return m, model


def _paper_training(method, x, y, s, device) -> dict:
    from sam_bench.bench.paper_loop import (
        endless,
        make_normalize,
        paper_loader,
        paper_model,
        paper_optimizer,
        paper_step,
    )
    from sam_bench.eps import parse_eps

    loader = paper_loader(x, y, s["paper_batch_size"], s["paper_workers"], seed=s["seed"])
    batches = endless(loader)
    torch.manual_seed(s["seed"])
    model = place(paper_model(10, s["width"]), device, PAPER_LOOP)
    model.train()
    optimizer = paper_optimizer(method, model, rho=s["rho"])
    normalize = make_normalize("cifar10")
    attack = dict(eps=parse_eps(ATTACK["eps"]), step_size=parse_eps(ATTACK["step_size"]), steps=ATTACK["steps"])
    totals = [0.0, 0]

    def step(xb, yb):
        loss_n, _ = paper_step(method, model, optimizer, xb, yb, normalize, device, attack)
        totals[0] += loss_n
        totals[1] += len(yb)

    # As many images per repetition as the fast path, so both runs cover the same share of an epoch.
    steps = max(1, round(s["steps"] * s["batch_size"] / s["paper_batch_size"]))
    warmup = max(1, round(s["warmup"] * s["batch_size"] / s["paper_batch_size"])) if s["warmup"] else 0
    runs = _timed(step, batches, steps, warmup, s["repeats"], _sync(device))
    return _measurement(
        runs,
        steps * s["paper_batch_size"],
        s["paper_batch_size"],
        steps,
        precision="fp32",
        channels_last=False,
        compile=False,
        num_workers=s["paper_workers"],
        peak_memory_gib=_peak_memory_gib(device),
        math_mode=math_mode.current(),
        data="torch DataLoader, PIL RandomCrop(32, 4, reflect) + RandomHorizontalFlip + ToTensor",
        mean_train_loss=totals[0] / max(totals[1], 1),
    )


# ---------------------------------------------------------------------------------------------
# Evaluation throughput


@math_mode.ieee_fp32()  # as `evaluate` runs
def _pgd_throughput(model, s, device) -> dict:
    from sam_bench.attacks import pgd
    from sam_bench.eps import parse_eps

    model = copy.deepcopy(model).float().to(memory_format=EVALUATION).eval()  # as `evaluate` runs it
    n = s["pgd_images"]
    x_u8, y_np = synthetic_images(n, seed=s["seed"] + 1)
    x = torch.from_numpy(x_u8).to(device).permute(0, 3, 1, 2).float().div(255).contiguous()
    y = torch.from_numpy(y_np).to(device)
    bs = min(s["batch_size"], n)
    chunks = [(x[i : i + bs], y[i : i + bs]) for i in range(0, n, bs)]
    eps, step_size = parse_eps(ATTACK["eps"]), parse_eps(ATTACK["step_size"])

    def one_pass():
        for xb, yb in chunks:
            pgd(model, xb, yb, eps, ATTACK["norm"], steps=ATTACK["steps"], step_size=step_size, random_start=True)

    runs = _timed(one_pass, itertools.repeat(()), 1, 1 if s["warmup"] else 0, s["repeats"], _sync(device))
    m = _measurement(runs, n, bs, len(chunks), precision="fp32", math_mode=math_mode.current())
    del m["epoch_s"]
    m["attack"] = {**ATTACK, "restarts": 1, "random_start": True, "model_mode": "eval"}
    return m


def _brief_models(s, device, workdir: Path, log) -> list[tuple[str, torch.nn.Module, str, str]]:
    """A standard and a PGD-10 AT model trained for a few epochs on the bundled CIFAR-10 sample."""
    from sam_bench.rundir import load_run
    from sam_bench.training.loop import TrainConfig, train

    out = []
    for method in ("standard", "at"):
        cfg = TrainConfig(
            method=method,
            arch=s["arch"],
            width=s["width"],
            arch_kwargs=s.get("arch_kwargs"),
            dataset="cifar10-sample",
            n_train=s["aa_train_images"],
            epochs=s["aa_train_epochs"],
            batch_size=min(s["batch_size"], s["aa_train_images"] or 1500),
            attack_norm=ATTACK["norm"],
            attack_eps=ATTACK["eps"],
            attack_steps=ATTACK["steps"],
            attack_step_size=ATTACK["step_size"],
            seed=s["seed"],
            device=str(device),
            precision=s["precision"],
            compile=False,
        )
        log(f"training a {method} model for AutoAttack ({cfg.epochs} epochs on the bundled CIFAR-10 sample)")
        train(cfg, workdir / method, progress=False)
        model, _ = load_run(workdir / method)
        out.append((f"bench-{method}", model, "cifar10-sample", method))
    return out


def _tile_test_set(dataset, n: int):
    """The test split repeated until it holds n images (AutoAttack's cost is per image)."""
    from dataclasses import replace

    k = len(dataset.y_test)
    if n <= k:
        return dataset
    reps = -(-n // k)
    return replace(
        dataset, x_test=np.concatenate([dataset.x_test] * reps)[:n], y_test=np.concatenate([dataset.y_test] * reps)[:n]
    )


def _autoattack(name, method, model, dataset, s, device, trained_here: bool) -> dict:
    import warnings

    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.results_record import Results
    from sam_bench.evaluation.specs import make_attacks

    n = s["aa_images"]
    distinct = min(n, len(dataset.y_test))
    specs = make_attacks("autoattack", ATTACK["norm"], [ATTACK["eps"]], version="standard", seed=s["seed"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the record keeps them
        result = evaluate(
            model,
            _tile_test_set(dataset, n),
            specs,
            n_examples=n,
            device=device,
            precision="fp32",
            batch_size=s["aa_batch_size"],
            chunk_size=n,
            progress=False,
        )
    seconds = time.perf_counter() - start
    e = Results.of(result).evaluations[0]
    correct = round(e["clean_acc"] * n)
    return {
        "model": name,
        "method": method,
        "trained_here": trained_here,
        "dataset": dataset.name,
        "n_images": n,
        "distinct_images": distinct,
        "batch_size": s["aa_batch_size"],
        "precision": "fp32",
        "version": "standard",
        "norm": ATTACK["norm"],
        "eps": ATTACK["eps"],
        "attacks": e["settings"]["attacks"],
        "seconds": seconds,
        "attack_seconds": e["seconds"],
        "seconds_per_1000": seconds / n * 1000,
        "seconds_per_1000_correct": seconds / correct * 1000 if correct else None,
        "clean_acc": e["clean_acc"],
        "robust_acc": e["robust_acc"],
        "breakdown": e["breakdown"],
        "warnings": result["warnings"],
    }


# ---------------------------------------------------------------------------------------------
# The whole benchmark


def _validate(s: dict) -> dict:
    from sam_bench.models import make_spec
    from sam_bench.provenance import resolve_device
    from sam_bench.training.method_table import names

    methods = s["methods"]
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not methods:
        raise BadInput("--methods is empty; choose from " + ", ".join(names()))
    for m in methods:
        if m not in names():
            raise BadInput(f"unknown method {m!r}; choose from {', '.join(names())}")
    s["methods"] = list(dict.fromkeys(methods))
    for key in (
        "batch_size",
        "n_images",
        "steps",
        "repeats",
        "paper_batch_size",
        "pgd_images",
        "aa_images",
        "aa_batch_size",
        "aa_train_epochs",
    ):
        if s[key] < 1:
            raise BadInput(f"--{key.replace('_', '-')} must be >= 1, got {s[key]}")
    if s["warmup"] < 0 or s["paper_workers"] < 0:
        raise BadInput("--warmup and --paper-workers must be >= 0")
    if s["aa_train_images"] is not None and not 1 <= s["aa_train_images"] <= 1500:
        raise BadInput("--aa-train-images must be between 1 and 1500 (the bundled sample)")
    if s["n_images"] < s["batch_size"] or (s["paper_loop"] and s["n_images"] < s["paper_batch_size"]):
        raise BadInput(f"--n-images {s['n_images']} is smaller than a batch")
    if s["precision"] not in ("auto", "fp32", "bf16"):
        raise BadInput(f"unknown precision {s['precision']!r}; choose auto, fp32 or bf16")
    if s["threads"] is not None and s["threads"] < 1:
        raise BadInput("--threads must be >= 1")
    if not s["rho"] >= 0:
        raise BadInput("--rho must be >= 0")
    make_spec(
        s["arch"], 10, (0.5,) * 3, (0.5,) * 3, s["width"], s.get("arch_kwargs")
    )  # unknown arch / bad width -> BadInput
    if s["paper_loop"] and s["arch"] != "preactresnet18":
        raise BadInput("the paper's loop trains preactresnet18; use --arch preactresnet18 or --skip-paper-loop")
    s["models"] = list(s["models"] or [])
    s["device"] = str(resolve_device(s["device"]))
    return s


def _environment(device: torch.device, commit: str | None = None) -> dict:
    from sam_bench.provenance import environment

    env = environment(device)
    # A copied tree (a lent GPU machine) has no git metadata: the caller can name the commit.
    env["code_commit_source"] = "given" if commit else ("git" if env["code_commit"] else None)
    if commit:
        env["code_commit"] = commit
    env.update(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        cuda=torch.version.cuda if device.type == "cuda" else None,
        cudnn=torch.backends.cudnn.version() if device.type == "cuda" else None,
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
    )
    return env


def _ratio_spread(t: dict) -> list[float]:
    """The lowest and highest x-paper ratio the repetitions allow (fast min / paper max, ...)."""
    f, p = t["fast"]["images_per_s"], t["paper"]["images_per_s"]
    return [f["min"] / p["max"], f["max"] / p["min"]]


def _targets(result: dict) -> dict:
    """The issue's speed targets, each with the measured median, whether it is met, and whether
    the spread of the repetitions decides it (`clear`: the whole spread is on one side)."""
    s, training = result["settings"], result["training"]
    checks = []

    def check(name, measured, target, spread=None, higher_is_better=False):
        def ok(v):
            return v >= target if higher_is_better else v <= target

        checks.append(
            {
                "name": name,
                "target": target,
                "measured": measured,
                "met": ok(measured),
                "spread": spread,
                "clear": None if spread is None else ok(spread[0]) == ok(spread[1]),
            }
        )

    if torch.device(s["device"]).type == "cuda":
        applies = s["arch"] == "preactresnet18" and s["width"] == 1.0 and s["batch_size"] == 512
        for method in ("standard", "sam", "at"):
            if method in training:
                ips = training[method]["fast"]["images_per_s"]
                check(
                    f"{method}: epoch seconds <=",
                    training[method]["fast"]["epoch_s"],
                    GPU_TARGETS[f"{method}_epoch_s"],
                    [EPOCH_IMAGES / ips["max"], EPOCH_IMAGES / ips["min"]],
                )
        for method in ("standard", "sam"):
            if method in training and training[method]["x_paper"] is not None:
                check(
                    f"{method}: x the paper loop's images/s >=",
                    training[method]["x_paper"],
                    GPU_TARGETS[f"{method}_x_paper"],
                    _ratio_spread(training[method]),
                    higher_is_better=True,
                )
        for record in (result["evaluation"] or {}).get("autoattack", []):
            if record["method"] in ("standard", "sam", "asam") and record["seconds_per_1000_correct"] is not None:
                # As if all 10,000 images were correctly classified: AutoAttack's work is per correct image.
                check(
                    f"autoattack on {record['model']}: seconds for 10,000 images (est.) <=",
                    10 * record["seconds_per_1000_correct"],
                    GPU_TARGETS["autoattack_10k_s"],
                )
        note = "the issue's targets: PreActResNet-18, CIFAR-10, one H100, batch 512"
    else:
        applies = True
        for method in ("standard", "sam"):
            if method in training and training[method]["x_paper"] is not None:
                check(
                    f"{method}: x the paper loop's images/s >= (CPU: not slower)",
                    training[method]["x_paper"],
                    1.0,
                    _ratio_spread(training[method]),
                    higher_is_better=True,
                )
        note = "on CPU the fast path must not be slower than the paper's loop"
    return {"applies": applies, "note": note, "checks": checks}


def run_bench(
    device: str = "auto",
    methods=DEFAULT_METHODS,
    batch_size: int = 512,
    n_images: int = 50_000,
    repeats: int = 5,
    warmup: int = 2,
    arch: str = "preactresnet18",
    width: float = 1.0,
    steps: int = 20,
    log=None,
    out: str | Path | None = None,
    stop_at: float | None = None,
    **options,
) -> dict:
    """Measure training and evaluation throughput on `device`; returns the results record.

    With `out`, the record is written there (atomically) after every finished part, with `status`
    "running" until the end ("complete", or "stopped" when `stop_at`, a `time.time()` value, came
    before every part could be measured: a part starts only when it is expected to end in time,
    judged by the part before; the parts left out are listed under `not_measured`).

    Options besides the named ones (defaults in DEFAULTS): precision, compile, rho, paper_loop,
    paper_batch_size, paper_workers, evaluation, pgd_images, aa_images, aa_batch_size,
    aa_train_epochs, aa_train_images, models (run dirs / zoo ids for AutoAttack), data_dir, seed,
    threads (torch CPU threads during the run; None: leave as is), commit (recorded as the code
    commit instead of git's answer, for a copy of the tree without .git)."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"run_bench() got unknown options {sorted(unknown)}")
    s = _validate(
        {
            **DEFAULTS,
            **options,
            "device": device,
            "methods": methods,
            "batch_size": batch_size,
            "n_images": n_images,
            "repeats": repeats,
            "warmup": warmup,
            "arch": arch,
            "width": width,
            "steps": steps,
        }
    )
    log = log or (lambda message: None)
    threads = torch.get_num_threads()
    if s["threads"] is not None:
        torch.set_num_threads(s["threads"])
    try:
        return _run(s, log, None if out is None else Path(out), stop_at)
    finally:
        torch.set_num_threads(threads)


def _load_models(refs: list[str]) -> list[tuple[str, torch.nn.Module, str, str | None]]:
    from sam_bench.evaluation.model_ref import load_model_ref, model_name

    out = []
    for ref in refs:
        model, info = load_model_ref(ref)
        out.append((model_name(ref), model, info.dataset_name or "cifar10", info.record.get("method")))
    return out


def _run(s: dict, log, out: Path | None, stop_at: float | None) -> dict:
    from sam_bench import files
    from sam_bench.bench.paper_loop import PAPER_METHODS
    from sam_bench.data import load_dataset

    dev = torch.device(s["device"])
    if s["evaluation"]:
        from sam_bench.attacks.autoattack import require_pyautoattack

        require_pyautoattack()  # before minutes of training timings, not after them
    given = _load_models(s["models"]) if s["evaluation"] else []  # a bad ref fails before any work
    datasets = {name: load_dataset(name, s["data_dir"]) for _, _, name, _ in given}

    started = time.perf_counter()
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": _environment(dev, s["commit"]),
        "settings": {
            **s,
            "attack": ATTACK,
            "epoch_images": EPOCH_IMAGES,
            "data": "synthetic uint8 32x32 images (class pattern + noise)",
        },
        "status": "running",
        "training": {},
        "evaluation": None,
        "wall_time_s": None,
    }
    part_seconds = [0.0]  # how long the last part took: the estimate for the next one

    def save(status: str = "running") -> None:
        """Every finished part reaches the results file at once (atomically): nothing is lost to a kill."""
        result.update(status=status, wall_time_s=time.perf_counter() - started)
        result["targets"] = _targets(result)
        if out is not None:
            files.write_json(out, result)

    def may_start(part: str) -> bool:
        if clock.fits(stop_at, part_seconds[0]):
            return True
        result.setdefault("not_measured", []).append(part)
        return False

    def timed(function, *args):
        t0 = clock.now()
        value = function(*args)
        part_seconds[0] = clock.now() - t0
        return value

    save()  # an output that can't be written fails now, not after the measurements
    x, y = synthetic_images(s["n_images"], seed=s["seed"])
    training: dict[str, dict] = result["training"]
    trained: dict[str, torch.nn.Module] = {}  # the models that training left, evaluated next
    for method in s["methods"]:
        if not may_start(f"training: {method}"):
            continue
        log(f"training throughput: {method} (sam-bench loop)")
        fast, trained[method] = timed(_fast_training, method, x, y, s, dev)
        paper = None
        if s["paper_loop"] and method in PAPER_METHODS and may_start(f"training: {method} (paper loop)"):
            log(f"training throughput: {method} (the paper's loop)")
            paper = timed(_paper_training, method, x, y, s, dev)
        training[method] = {
            "fast": fast,
            "paper": paper,
            "x_paper": None if paper is None else fast["images_per_s"]["median"] / paper["images_per_s"]["median"],
        }
        if (
            paper is not None
            and s["batch_size"] != s["paper_batch_size"]
            and may_start(f"training: {method} (sam-bench loop, the paper's batch)")
        ):
            # sam-bench's loop at the paper's batch too: how much of the gain is the larger batch
            log(f"training throughput: {method} (sam-bench loop, batch {s['paper_batch_size']})")
            same_batch = {
                **s,
                "batch_size": s["paper_batch_size"],
                "steps": max(1, round(s["steps"] * s["batch_size"] / s["paper_batch_size"])),
            }
            at_paper_batch, _ = timed(_fast_training, method, x, y, same_batch, dev)
            training[method].update(
                fast_paper_batch=at_paper_batch,
                x_paper_same_batch=(at_paper_batch["images_per_s"]["median"] / paper["images_per_s"]["median"]),
            )
        save()

    if s["evaluation"] and may_start("evaluation: PGD-10"):
        log("evaluation throughput: PGD-10")
        model = trained.get("standard")
        if model is None:  # PGD's cost does not depend on the weights
            from sam_bench.data import STATS
            from sam_bench.models import create_model, make_spec

            torch.manual_seed(s["seed"])
            model = create_model(make_spec(s["arch"], 10, *STATS["cifar10"], s["width"], s.get("arch_kwargs"))).to(dev)
        result["evaluation"] = evaluation = {"pgd": timed(_pgd_throughput, model, s, dev), "autoattack": []}
        save()
        del trained, model
        with tempfile.TemporaryDirectory(prefix="sam-bench-bench-") as workdir:
            models = given or _brief_models(s, dev, Path(workdir), log)
            for name, model, dataset_name, method in models:
                if not may_start(f"evaluation: AutoAttack on {name}"):
                    continue
                log(f"evaluation throughput: AutoAttack on {name} ({s['aa_images']} images)")
                dataset = datasets.get(dataset_name) or load_dataset(dataset_name, s["data_dir"])
                evaluation["autoattack"].append(timed(_autoattack, name, method, model, dataset, s, dev, not given))
                save()
    save("stopped" if result.get("not_measured") else "complete")
    return result


# ---------------------------------------------------------------------------------------------
# The terminal table (and the same as Markdown, for the README)


def _rate(m: dict) -> str:
    r = m["images_per_s"]
    return f"{r['median']:,.0f} [{r['min']:,.0f}-{r['max']:,.0f}]"


def format_table(result: dict, markdown: bool = False) -> str:
    """The results as a terminal table, or as Markdown tables (`markdown=True`)."""

    def table(rows, align):
        return _markdown(rows, align) if markdown else _columns(rows)

    env = result["environment"]
    lines = []
    if markdown:
        lines += [
            f"Device: **{env['device_name']}**, torch {env['torch_version']}, sam-bench commit "
            f"`{env['code_commit'] or 'unknown'}`, {result['created']}.",
            "",
        ]
    rows = [("method", "loop", "batch", "precision", "images/s median [min-max]", "epoch s", "x paper")]
    for method, t in result["training"].items():
        f = t["fast"]
        rows.append(
            (
                method,
                "sam-bench",
                str(f["batch_size"]),
                f["precision"] + (" compiled" if f["compile"] else ""),
                _rate(f),
                f"{f['epoch_s']:.2f}",
                "-" if t["x_paper"] is None else f"{t['x_paper']:.2f}x",
            )
        )
        same = t.get("fast_paper_batch")
        if same is not None:
            rows.append(
                (
                    method,
                    "sam-bench",
                    str(same["batch_size"]),
                    same["precision"] + (" compiled" if same["compile"] else ""),
                    _rate(same),
                    f"{same['epoch_s']:.2f}",
                    f"{t['x_paper_same_batch']:.2f}x",
                )
            )
        p = t["paper"]
        if p is not None:
            rows.append((method, "paper", str(p["batch_size"]), p["precision"], _rate(p), f"{p['epoch_s']:.2f}", "1x"))
    lines.append(table(rows, (0, 0, 1, 0, 1, 1, 1)))
    ev = result["evaluation"]
    if ev is not None:
        p = ev["pgd"]
        lines.append("")
        lines.append(f"PGD-10 (Linf 8/255, eval mode, fp32, batch {p['batch_size']}): {_rate(p)} images/s")
        lines.append("")
        rows = [("AutoAttack standard", "images", "clean", "robust", "seconds", "s / 1,000", "s / 1,000 correct")]
        for a in ev["autoattack"]:
            rows.append(
                (
                    a["model"],
                    str(a["n_images"]),
                    f"{a['clean_acc']:.1%}",
                    f"{a['robust_acc']:.1%}",
                    f"{a['seconds']:.1f}",
                    f"{a['seconds_per_1000']:.1f}",
                    "-" if a["seconds_per_1000_correct"] is None else f"{a['seconds_per_1000_correct']:.1f}",
                )
            )
        lines.append(table(rows, (0, 1, 1, 1, 1, 1, 1)))
    checks = result["targets"]["checks"]
    if checks:
        lines.append("")
        lines.append("Targets" + ("" if result["targets"]["applies"] else " (settings differ from the targets')") + ":")
        if markdown:
            lines.append("")
        for c in checks:
            verdict = "met" if c["met"] else "MISSED"
            if c["spread"] is not None:
                verdict += f" [{c['spread'][0]:.2f}-{c['spread'][1]:.2f}{'' if c['clear'] else ': within the spread'}]"
            lines.append(f"{'-' if markdown else ' '} {c['name']} {c['target']:g}: {c['measured']:.2f} {verdict}")
    if not markdown:
        lines += ["", f"{env['device_name']}, torch {env['torch_version']}, commit {env['code_commit'] or 'unknown'}"]
    return "\n".join(lines)


def _columns(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows
    )


def _markdown(rows, align) -> str:
    rule = ["---:" if right else "---" for right, _ in zip(align, rows[0])]
    return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], rule, *rows[1:]])
