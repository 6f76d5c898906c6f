"""How fast sam-bench trains and attacks, measured side by side with the paper's own loop (`sam-bench bench`).

`run_bench` runs the benchmark part by part (`training_throughput`, then `evaluation_throughput`, each measured as
`measurement` says), writing the record after every finished part; its layout is documented in docs/benchmarks.md.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from sam_bench import files
from sam_bench.attacks.autoattack import require_pyautoattack
from sam_bench.bench.environment import environment
from sam_bench.bench.evaluation_throughput import autoattack, brief_models, load_models, pgd_throughput, untrained_model
from sam_bench.bench.measurement import ATTACK, EPOCH_IMAGES, synthetic_images
from sam_bench.bench.targets import targets
from sam_bench.bench.training_throughput import fast_training, paper_training
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput
from sam_bench.models import make_spec
from sam_bench.runtime import clock
from sam_bench.runtime.provenance import resolve_device
from sam_bench.training.method_table import PAPER_METHODS, names

SCHEMA = "sam-bench/bench/v1"
DEFAULT_METHODS = PAPER_METHODS

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
    rho=None,  # every SAM method's own default radius (method_table); a number: that radius for each
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


def run_bench(log=None, out: str | Path | None = None, stop_at: float | None = None, **options) -> dict:
    """Measure training and evaluation throughput; returns the results record. `options`: DEFAULTS' keys
    (`models`: run dirs / zoo ids for AutoAttack; `commit`: recorded in place of git's answer, for a copy of the
    tree without .git). With `out`, the record is written there after every finished part, its `status`
    "running", then "complete", or "stopped" where `stop_at` (a `time.time()` value) left parts unmeasured
    (`not_measured`): a part starts only when it is expected to end in time."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"run_bench() got unknown options {sorted(unknown)}")
    s = _validate({**DEFAULTS, **options})
    log = log or (lambda message: None)
    threads = torch.get_num_threads()
    if s["threads"] is not None:
        torch.set_num_threads(s["threads"])
    try:
        return _run(s, log, None if out is None else Path(out), stop_at)
    finally:
        torch.set_num_threads(threads)


def _validate(s: dict) -> dict:
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
    if s["rho"] is not None and not s["rho"] >= 0:
        raise BadInput("--rho must be >= 0")
    make_spec(s["arch"], 10, (0.5,) * 3, (0.5,) * 3, s["width"], s.get("arch_kwargs"))  # a bad arch or width: BadInput
    if s["paper_loop"] and s["arch"] != "preactresnet18":
        raise BadInput("the paper's loop trains preactresnet18; use --arch preactresnet18 or --skip-paper-loop")
    s["models"] = list(s["models"] or [])
    s["device"] = str(resolve_device(s["device"]))
    return s


class _Record:
    """The results record as the parts fill it: written (atomically) after every finished part, so
    nothing is lost to a kill; a part starts only when it is expected to end before `stop_at`."""

    def __init__(self, result: dict[str, Any], started: float, out: Path | None, stop_at: float | None):
        self.result, self.started, self.out, self.stop_at = result, started, out, stop_at
        self.part_seconds = 0.0  # how long the last part took: the estimate for the next one

    def save(self, status: str = "running") -> None:
        self.result.update(status=status, wall_time_s=time.perf_counter() - self.started)
        self.result["targets"] = targets(self.result)
        if self.out is not None:
            files.write_json(self.out, self.result)

    def may_start(self, part: str) -> bool:
        """Whether `part` is expected to end in time; if not, it is listed under `not_measured`."""
        if clock.fits(self.stop_at, self.part_seconds):
            return True
        self.result.setdefault("not_measured", []).append(part)
        return False

    def timed(self, function, *args):
        t0 = clock.now()
        value = function(*args)
        self.part_seconds = clock.now() - t0
        return value


def _run(s: dict, log, out: Path | None, stop_at: float | None) -> dict:
    dev = torch.device(s["device"])
    if s["evaluation"]:
        require_pyautoattack()  # before minutes of training timings, not after them
    given = load_models(s["models"]) if s["evaluation"] else []  # a bad ref fails before any work
    datasets = {name: load_dataset(name, s["data_dir"]) for _, _, name, _ in given}

    started = time.perf_counter()
    record = _Record(_new_result(s, dev), started, out, stop_at)
    record.save()  # an output that can't be written fails now, not after the measurements
    x, y = synthetic_images(s["n_images"], seed=s["seed"])
    trained = _training_parts(record, s, x, y, dev, log)  # the models that training left, evaluated next
    if s["evaluation"] and record.may_start("evaluation: PGD-10"):
        log("evaluation throughput: PGD-10")
        model = trained.get("standard")
        if model is None:  # PGD's cost does not depend on the weights
            model = untrained_model(s, dev)
        record.result["evaluation"] = {"pgd": record.timed(pgd_throughput, model, s, dev), "autoattack": []}
        record.save()
        del trained, model
        _autoattack_parts(record, s, dev, log, given, datasets)
    record.save("stopped" if record.result.get("not_measured") else "complete")
    return record.result


def _new_result(s: dict, dev: torch.device) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(dev, s["commit"]),
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


def _training_parts(record: _Record, s: dict, x, y, dev: torch.device, log) -> dict[str, torch.nn.Module]:
    """Each method's training throughput: sam-bench's loop, the paper's, and sam-bench's at the paper's batch."""
    training: dict[str, dict] = record.result["training"]
    trained: dict[str, torch.nn.Module] = {}
    for method in s["methods"]:
        if not record.may_start(f"training: {method}"):
            continue
        log(f"training throughput: {method} (sam-bench loop)")
        fast, trained[method] = record.timed(fast_training, method, x, y, s, dev)
        paper = None
        if s["paper_loop"] and method in PAPER_METHODS and record.may_start(f"training: {method} (paper loop)"):
            log(f"training throughput: {method} (the paper's loop)")
            paper = record.timed(paper_training, method, x, y, s, dev)
        training[method] = {
            "fast": fast,
            "paper": paper,
            "x_paper": None if paper is None else fast["images_per_s"]["median"] / paper["images_per_s"]["median"],
        }
        if (
            paper is not None
            and s["batch_size"] != s["paper_batch_size"]
            and record.may_start(f"training: {method} (sam-bench loop, the paper's batch)")
        ):
            # sam-bench's loop at the paper's batch too: how much of the gain is the larger batch
            log(f"training throughput: {method} (sam-bench loop, batch {s['paper_batch_size']})")
            same_batch = {
                **s,
                "batch_size": s["paper_batch_size"],
                "steps": max(1, round(s["steps"] * s["batch_size"] / s["paper_batch_size"])),
            }
            at_paper_batch, _ = record.timed(fast_training, method, x, y, same_batch, dev)
            training[method].update(
                fast_paper_batch=at_paper_batch,
                x_paper_same_batch=(at_paper_batch["images_per_s"]["median"] / paper["images_per_s"]["median"]),
            )
        record.save()
    return trained


def _autoattack_parts(record: _Record, s: dict, dev: torch.device, log, given: list, datasets: dict) -> None:
    """AutoAttack on each given model, or on a standard and an AT model briefly trained here."""
    with tempfile.TemporaryDirectory(prefix="sam-bench-bench-") as workdir:
        models = given or brief_models(s, dev, Path(workdir), log)
        for name, model, dataset_name, method in models:
            if not record.may_start(f"evaluation: AutoAttack on {name}"):
                continue
            log(f"evaluation throughput: AutoAttack on {name} ({s['aa_images']} images)")
            dataset = datasets.get(dataset_name) or load_dataset(dataset_name, s["data_dir"])
            measured = record.timed(autoattack, name, method, model, dataset, s, dev, not given)
            record.result["evaluation"]["autoattack"].append(measured)
            record.save()
