"""Evaluation throughput: PGD-10 images/s (`pgd_throughput`, eval mode, fp32), and AutoAttack seconds per 1,000
images (`autoattack`, standard, Linf 8/255, through `sam_bench.benchmark` as `evaluate` runs it) on briefly
trained or given models. AutoAttack's time depends on how many points are still correct after each of its attacks,
so clean and robust accuracy and the per-attack breakdown are recorded beside the seconds.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sam_bench.attacks import pgd
from sam_bench.bench.measurement import ATTACK, measurement, synchronizer, synthetic_images, timed_runs, train_config
from sam_bench.data import STATS
from sam_bench.eps import parse_eps
from sam_bench.evaluation.evaluators import benchmark
from sam_bench.evaluation.model_ref import load_model_ref, model_name
from sam_bench.evaluation.results_record import Results
from sam_bench.evaluation.specs import make_attacks
from sam_bench.models import create_model, make_spec
from sam_bench.rundir.model import load_run
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION
from sam_bench.training.loop import train


@math_mode.ieee_fp32()  # as `evaluate` runs
def pgd_throughput(model, s, device) -> dict:
    """PGD-10 images/s on `pgd_images` synthetic images, `repeats` passes after one untimed."""
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

    runs = timed_runs(one_pass, itertools.repeat(()), 1, 1 if s["warmup"] else 0, s["repeats"], synchronizer(device))
    m = measurement(runs, n, bs, len(chunks), precision="fp32", math_mode=math_mode.current())
    del m["epoch_s"]
    m["attack"] = {**ATTACK, "restarts": 1, "random_start": True, "model_mode": "eval"}
    return m


def untrained_model(s, device) -> torch.nn.Module:
    """The benchmark's architecture as initialised: PGD's cost does not depend on the weights."""
    torch.manual_seed(s["seed"])
    return create_model(make_spec(s["arch"], 10, *STATS["cifar10"], s["width"], s.get("arch_kwargs"))).to(device)


def brief_models(s, device, workdir: Path, log) -> list[tuple[str, torch.nn.Module, str, str]]:
    """A standard and a PGD-10 AT model trained for a few epochs on the bundled CIFAR-10 sample."""
    out = []
    for method in ("standard", "at"):
        batch_size = min(s["batch_size"], s["aa_train_images"] or 1500)
        cfg = replace(
            train_config(method, {**s, "batch_size": batch_size}, device, compile=False),
            dataset="cifar10-sample",
            n_train=s["aa_train_images"],
            epochs=s["aa_train_epochs"],
            seed=s["seed"],
            precision=s["precision"],
        )
        log(f"training a {method} model for AutoAttack ({cfg.epochs} epochs on the bundled CIFAR-10 sample)")
        train(cfg, workdir / method, progress=False)
        model, _ = load_run(workdir / method)
        out.append((f"bench-{method}", model, "cifar10-sample", method))
    return out


def load_models(refs: list[str]) -> list[tuple[str, torch.nn.Module, str, str | None]]:
    """The given models (run dirs, checkpoints, zoo ids): name, model, data set and method of each."""
    out = []
    for ref in refs:
        model, info = load_model_ref(ref)
        out.append((model_name(ref), model, info.dataset_name or "cifar10", info.record.get("method")))
    return out


def _tile_test_set(dataset, n: int):
    """The test split repeated until it holds n images (AutoAttack's cost is per image)."""
    k = len(dataset.y_test)
    if n <= k:
        return dataset
    reps = -(-n // k)
    return replace(
        dataset, x_test=np.concatenate([dataset.x_test] * reps)[:n], y_test=np.concatenate([dataset.y_test] * reps)[:n]
    )


def autoattack(name, method, model, dataset, s, device, trained_here: bool) -> dict:
    """AutoAttack (standard) on `aa_images` test images, timed whole; with what its time depends on."""
    n = s["aa_images"]
    distinct = min(n, len(dataset.y_test))
    specs = make_attacks("autoattack", ATTACK["norm"], [ATTACK["eps"]], version="standard", seed=s["seed"])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore")  # the record keeps them
        out = Path(folder) / "results.json"
        settings = dict(n_examples=n, precision="fp32", batch_size=s["aa_batch_size"], chunk_size=n)
        found = benchmark(
            "", None, specs, _tile_test_set(dataset, n), str(device), out=out, loaded=(model, None), **settings
        )
    seconds = time.perf_counter() - start
    assert found is not None, "bench runs on one process"
    result = found[1]
    e = Results.of(result).evaluations[0]
    correct = round((e.clean_acc or 0.0) * n)
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
        "attacks": e.settings["attacks"],
        "seconds": seconds,
        "attack_seconds": e.seconds,
        "seconds_per_1000": seconds / n * 1000,
        "seconds_per_1000_correct": seconds / correct * 1000 if correct else None,
        "clean_acc": e.clean_acc,
        "robust_acc": e.robust_acc,
        "breakdown": e.breakdown,
        "warnings": result["warnings"],
    }
