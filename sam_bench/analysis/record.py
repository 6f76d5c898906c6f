"""One model's analysis record (`sam-bench/analysis/v1`) and its arrays: the measures on the same fixed images for
every model, reused where its key (weights, data, settings) matches, resumable from `<name>.partial.json`
(docs/analysis.md)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.analysis import fourier_heatmap as fourier
from sam_bench.analysis import frequency_reliance as frequency
from sam_bench.analysis import gradients, sharpness
from sam_bench.data import Dataset
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.model_ref import weights_sha256
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import environment, resolve_device

SCHEMA = "sam-bench/analysis/v1"
MEASURES = ("sharpness", "fourier", "frequency", "gradients")
# Frequency bands of the Fourier map's summary (cycles per image, radius): [low, high)
BANDS = {"low": (0.0, 4.0), "middle": (4.0, 10.0), "high": (10.0, 100.0)}


@dataclass
class Settings:
    """Everything that changes an analysis' numbers (the cache key); defaults: minutes per model
    on one CPU thread for the project's small models."""

    measures: list[str] = field(default_factory=lambda: list(MEASURES))
    seed: int = 0  # draws the training images, the power iteration's start, the Fourier signs
    train_images: int = 256  # sharpness: training images, in batches of sharpness_batch
    sharpness_batch: int = 64
    rho: float = 0.1  # SAM's radius (L2, all parameters)
    ascent_steps: int = 5
    power_iterations: int = 12
    power_tolerance: float = 1e-3
    fourier_images: int = 48  # the first N test images
    fourier_norm: float = 4.0  # L2 norm of the perturbation (Yin et al.'s for CIFAR-10)
    filter_images: int = 1000
    cutoffs: list[float] = field(default_factory=lambda: [2.0, 4.0, 8.0, 12.0])
    gradient_images: int = 200
    grid_images: int = 8

    def check(self, dataset: Dataset) -> None:
        unknown = [m for m in self.measures if m not in MEASURES]
        if unknown or not self.measures:
            raise BadInput(
                f"unknown measure {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(MEASURES)}"
            )
        positive = {
            "--train-images": self.train_images,
            "--sharpness-batch": self.sharpness_batch,
            "--ascent-steps": self.ascent_steps,
            "--power-iterations": self.power_iterations,
            "--fourier-images": self.fourier_images,
            "--filter-images": self.filter_images,
            "--gradient-images": self.gradient_images,
            "--grid-images": self.grid_images,
        }
        for name, value in positive.items():
            if value < 1:
                raise BadInput(f"{name} must be >= 1, got {value}")
        if not self.rho > 0 or not self.fourier_norm > 0:
            raise BadInput("--rho and --fourier-norm must be > 0")
        # the images a measure draws are checked against the data set only where that measure is asked for:
        # another's default (--filter-images 1000) must not refuse a model of the 500-test-image sample
        if "sharpness" in self.measures and self.train_images > len(dataset.y_train):
            raise BadInput(f"--train-images {self.train_images}: {dataset.name} has {len(dataset.y_train)}")
        n_test = len(dataset.y_test)
        for measure, name, value in (
            ("fourier", "--fourier-images", self.fourier_images),
            ("frequency", "--filter-images", self.filter_images),
            ("gradients", "--gradient-images", self.gradient_images),
        ):
            if measure in self.measures and value > n_test:
                raise BadInput(f"{name} {value}: {dataset.name} has {n_test} test images")
        if "gradients" in self.measures and self.grid_images > self.gradient_images:
            raise BadInput(
                f"--gradient-images must be at least {self.grid_images}: the input-gradient grid shows the first "
                f"{self.grid_images} of them"
            )
        if not self.cutoffs or any(not c > 0 for c in self.cutoffs):
            raise BadInput("--cutoffs must be positive radii, e.g. 2,4,8,12")
        size = dataset.x_test.shape[1]
        highest = float(frequency.radius(size).max())
        beyond = [c for c in self.cutoffs if c >= highest]
        if beyond:  # the low-pass image would be the image itself, the high-pass one its mean colour
            raise BadInput(
                f"--cutoffs {beyond[0]:g}: a {size}x{size} image has no frequency above radius {highest:.1f}; "
                f"give radii below it, e.g. 2,4,8,12"
            )


def train_indices(settings: Settings, n_train: int) -> np.ndarray:
    """The training images of the sharpness measures: the same for every model under one seed."""
    return np.random.default_rng(settings.seed).choice(n_train, settings.train_images, replace=False)


def _tensors(x_u8: np.ndarray, labels: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """NHWC uint8 images -> NCHW floats in [0, 1], contiguous in NCHW: a permuted view keeps NHWC strides, and
    oneDNN then runs the model's convolutions in NHWC, where the weight gradient of a strided 1x1 convolution
    of few input channels (PreActResNet-18 below width 0.25) writes past its workspace on a CPU (oneDNN #6035,
    runtime/memory_format.py): the sharpness measure crashed so. The labels as int64."""
    x = torch.from_numpy(np.ascontiguousarray(x_u8)).permute(0, 3, 1, 2).contiguous().float().div(255).to(device)
    return x, torch.from_numpy(np.asarray(labels, np.int64)).to(device)


class _Partial:
    """The finished parts of an interrupted analysis, keyed by the record's key."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        saved = files.read_json(path) if path.is_file() else {}
        self.parts: dict = saved.get("parts", {}) if saved.get("key") == key else {}

    def save(self) -> None:
        files.write_json(self.path, {"key": self.key, "parts": self.parts})


def paths(out: Path, name: str) -> dict[str, Path]:
    return {
        "record": out / f"{name}.json",
        "arrays": out / f"{name}.npz",
        "fourier_png": out / f"{name}_fourier.png",
        "partial": out / f"{name}.partial.json",
    }


def load(out: str | Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """A written record and its arrays (heat_map, gradient_maps, grid_images)."""
    where = paths(Path(out), name)
    with np.load(where["arrays"], allow_pickle=False) as arrays:
        return files.read_json(where["record"]), {k: arrays[k] for k in arrays.files}


def _sharpness(model, dataset, settings, device, partial, progress) -> dict:
    weights = sharpness.weight_norm(model)
    if settings.rho > weights:  # --rho 1e9: the loss overflows and the sharpness is NaN
        raise BadInput(
            f"--rho {settings.rho:g} exceeds the L2 norm of the model's weights ({weights:.3g}): a perturbation "
            "larger than the weights themselves measures no sharpness; use a radius like training's (0.05 to 0.5)"
        )
    index = train_indices(settings, len(dataset.y_train))
    done = partial.parts.setdefault("sharpness", {})
    batches = [index[s : s + settings.sharpness_batch] for s in range(0, len(index), settings.sharpness_batch)]
    for b, chosen in enumerate(tqdm(batches, desc="sharpness", unit="batch", disable=not progress)):
        if str(b) in done:
            continue
        x, y = _tensors(dataset.x_train[chosen], dataset.y_train[chosen], device)
        t = time.time()
        found = sharpness.sam_sharpness(model, x, y, settings.rho, settings.ascent_steps)
        seed = settings.seed * 1_000_003 + b
        found |= sharpness.top_eigenvalue(model, x, y, settings.power_iterations, settings.power_tolerance, seed=seed)
        broken = [k for k, v in found.items() if not np.isfinite(v)]
        if broken:  # a NaN would reach the report as "p = nan"
            raise SamBenchError(
                f"sharpness at --rho {settings.rho:g}: {broken[0]} is {found[broken[0]]} on batch {b} (the loss "
                "overflowed); nothing of it was kept: use a smaller --rho"
            )
        done[str(b)] = {**found, "images": len(chosen), "seconds": time.time() - t}
        partial.save()
    per_batch = [done[str(b)] for b in range(len(batches))]
    return {
        "rho": settings.rho,
        "ascent_steps": settings.ascent_steps,
        "batch_size": settings.sharpness_batch,
        "batches": per_batch,
        "summary": {
            k: sharpness.batch_interval([r[k] for r in per_batch])
            for k in ("loss", "sam_one_step", "sam_multi_step", "top_eigenvalue")
        },
        "seconds": sum(r["seconds"] for r in per_batch),
    }


def _fourier(model, dataset, settings, device, partial, progress, batch_size) -> tuple[dict, np.ndarray]:
    n = settings.fourier_images
    x, y = _tensors(dataset.x_test[:n], dataset.y_test[:n], device)
    size = x.shape[-1]
    done = partial.parts.setdefault("fourier", {"wrong": {}, "seconds": 0.0})
    every = fourier.frequencies(size)
    todo = [(i, j) for i, j in every if f"{i},{j}" not in done["wrong"]]
    t = time.time()
    with tqdm(total=len(every), initial=len(done["wrong"]), desc="fourier", unit="freq", disable=not progress) as bar:
        for count, (i, j) in enumerate(todo, start=1):
            seed = settings.seed * 1_000_003 + (i % size) * size + j % size
            done["wrong"][f"{i},{j}"] = fourier.errors_at(model, x, y, i, j, settings.fourier_norm, seed, batch_size)
            bar.update(1)
            if count % 32 == 0 or count == len(todo):
                done["seconds"] += time.time() - t
                t = time.time()
                partial.save()
    grid = fourier.heat_map(done["wrong"], n, size)
    with torch.no_grad():
        clean_error = float((model(x).argmax(1) != y).float().mean())
    return {
        "norm": settings.fourier_norm,
        "n_images": n,
        "clean_error": clean_error,
        "band_error": {band: fourier.band_error(grid, lo, hi) for band, (lo, hi) in BANDS.items()},
        "bands": {band: list(bounds) for band, bounds in BANDS.items()},
        "heat_map": np.round(grid, 6).tolist(),
        "seconds": done["seconds"],
    }, grid


def _frequency(model, dataset, settings, device, batch_size) -> dict:
    n = settings.filter_images
    x, y = _tensors(dataset.x_test[:n], dataset.y_test[:n], device)
    t = time.time()

    def entry(cutoff, keep):
        flags = frequency.correct_under_filter(model, x, y, cutoff, keep, batch_size)
        return {"cutoff": cutoff, "acc": float(flags.float().mean()), "outcomes": outcomes.encode(flags)}

    clean = entry(None, "low")
    return {
        "n_images": n,
        "clean": {"acc": clean["acc"], "outcomes": clean["outcomes"]},
        "low_pass": [entry(c, "low") for c in settings.cutoffs],
        "high_pass": [entry(c, "high") for c in settings.cutoffs],
        "seconds": time.time() - t,
    }


def _gradients(model, dataset, settings, device, batch_size) -> tuple[dict, np.ndarray]:
    n = settings.gradient_images
    x, y = _tensors(dataset.x_test[:n], dataset.y_test[:n], device)
    t = time.time()
    maps = gradients.input_gradients(model, x, y, batch_size)
    scores = gradients.alignment(maps, x).cpu().numpy()
    plain = gradients.cosine(maps, x).cpu().numpy()
    # The score of a gradient unrelated to the image, on the same images: the reference level.
    noise = torch.randn(maps.shape, generator=torch.Generator().manual_seed(settings.seed)).to(maps)
    baseline = gradients.alignment(noise, x).cpu().numpy()
    return {
        "n_images": n,
        "grid_images": settings.grid_images,
        "alignment": sharpness.batch_interval(scores.tolist()),
        "cosine": sharpness.batch_interval(plain.tolist()),
        "random_alignment": float(baseline.mean()),
        "per_image": {"alignment": np.round(scores, 6).tolist(), "cosine": np.round(plain, 6).tolist()},
        "seconds": time.time() - t,
    }, maps[: settings.grid_images].cpu().numpy().astype(np.float32)


@math_mode.ieee_fp32()
def analyze(
    model: torch.nn.Module,
    dataset: Dataset,
    settings: Settings,
    out: str | Path,
    name: str,
    *,
    info: dict | None = None,
    device: str = "cpu",
    batch_size: int = 250,
    progress: bool = True,
) -> tuple[dict, bool]:
    """Analyze `model` (inputs in [0,1]) on `dataset`'s fixed images; write out/<name>.json, .npz
    and _fourier.png. Returns the record and whether it was reused from an earlier call."""
    settings.check(dataset)
    where = paths(Path(out), name)
    info = dict(info or {})
    weights = info.get("weights_sha256") or weights_sha256(model)
    data = dataset.fingerprint()
    blob = json.dumps({"weights": weights, "data": data, "settings": asdict(settings)}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()  # the cache key: what changes the record's numbers
    if where["record"].is_file() and where["arrays"].is_file():
        cached = files.read_json(where["record"])
        if cached.get("schema") == SCHEMA and cached.get("key") == key:
            return cached, True
    torch_device = resolve_device(device)
    model = place(model, torch_device, EVALUATION).eval()
    partial = _Partial(where["partial"], key)
    arrays: dict[str, np.ndarray] = {}
    record: dict = {
        "schema": SCHEMA,
        "created": None,
        "key": key,
        "model": {**info, "weights_sha256": weights},
        "dataset": {
            "name": dataset.name,
            "sha256": data,
            "n_train": len(dataset.y_train),
            "n_test": len(dataset.y_test),
        },
        "settings": asdict(settings),
        "images": {
            "train_indices": train_indices(settings, len(dataset.y_train)).tolist(),
            "test_first": {
                "fourier": settings.fourier_images,
                "frequency": settings.filter_images,
                "gradients": settings.gradient_images,
                "grid": settings.grid_images,
            },
        },
    }
    if "sharpness" in settings.measures:
        record["sharpness"] = _sharpness(model, dataset, settings, torch_device, partial, progress)
    if "fourier" in settings.measures:
        record["fourier"], arrays["heat_map"] = _fourier(
            model, dataset, settings, torch_device, partial, progress, batch_size
        )
    if "frequency" in settings.measures:
        record["frequency"] = _frequency(model, dataset, settings, torch_device, batch_size)
    if "gradients" in settings.measures:
        record["gradients"], arrays["gradient_maps"] = _gradients(model, dataset, settings, torch_device, batch_size)
        arrays["grid_images"] = np.ascontiguousarray(dataset.x_test[: settings.grid_images])
    record["seconds"] = sum(record[m]["seconds"] for m in settings.measures)
    record["environment"] = environment(torch_device)
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["files"] = {"arrays": where["arrays"].name}
    if "fourier" in settings.measures:
        title = f"{name}: error under a Fourier perturbation of L2 norm {settings.fourier_norm:g}"
        fourier.plot(arrays["heat_map"], title, where["fourier_png"])
        record["files"]["fourier_png"] = where["fourier_png"].name
    named: dict[str, Any] = arrays  # savez's keyword names are the arrays' names
    files.atomic_write(where["arrays"], lambda f: np.savez_compressed(f, **named))
    files.write_json(where["record"], record, flat_number_lists=True)
    where["partial"].unlink(missing_ok=True)
    return record, False
