"""The corruptions threat model as an evaluation runs it: the model's accuracy on each corruption at each
severity of a corruption set, and RobustBench's headline, the mean over all 75.

    record = evaluate_corruptions(model, load_corruption_set("cifar10-sample-c-generated"))
    record["mean_accuracy"], record["families"]["weather"], record["accuracy"]["fog"]["3"]

Images are made (or read) and classified chunk by chunk, as the clean pass is; every figure is derived from the
per-image outcomes kept per corruption and severity (corruption_outcomes), which a re-measurement compares bit for
bit (the set is deterministic, the model scored in true fp32). Finished chunks are kept in a `ChunkState`, so a
killed evaluation continues; `stop_at` stops before a late chunk. `evaluate_model` goes from a model reference to a
results file: the clean pass on the same images and one `corruptions` entry (`evaluation_entry`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.attacks.autoattack import predict
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import SOURCES, CorruptionSet, load_corruption_set
from sam_bench.data import load_dataset, to_float
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import corruption_outcomes, outcomes, results_file
from sam_bench.evaluation.batching import CPU_BATCH, CPU_CHUNK
from sam_bench.evaluation.chunk_state import STATE_SCHEMA, ChunkState, key_of, state_path
from sam_bench.evaluation.evaluate import EvaluationStopped, finished_record, model_block
from sam_bench.evaluation.model_ref import load_model_ref, weights_sha256
from sam_bench.runtime import clock, math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import resolve_device

ATTACK = "corruptions"


def _set_key(corruption_set: CorruptionSet) -> dict:
    """What of a set decides its images: its name, its clean images' fingerprint and a generated set's seed."""
    described = corruption_set.describe()
    return {k: described[k] for k in ("name", "clean_sha256", "seed") if k in described}


def chunk_key(context: dict, corruption: str, severity: int, batch_size: int, start: int, stop: int) -> str:
    return key_of(
        {**context, "corruption": corruption, "severity": severity, "batch_size": batch_size, "range": [start, stop]}
    )


def _kept(state: ChunkState, key: str, start: int, stop: int) -> np.ndarray | None:
    """A kept chunk's outcomes, or None where it has none or they are not of its images (an edited state file:
    the chunk is classified again)."""
    record = state.chunks.get(key)
    try:
        flags = outcomes.decode(record["correct"])  # type: ignore[index]
        if record["correct"]["start"] != start or flags.size != stop - start:  # type: ignore[index]
            raise ValueError("other images")
    except (KeyError, TypeError, ValueError, SamBenchError):
        state.chunks.pop(key, None)
        return None
    return flags


@math_mode.ieee_fp32()
def evaluate_corruptions(
    model: torch.nn.Module,
    corruption_set: CorruptionSet,
    *,
    n_examples: int | None = None,
    corruptions: tuple[str, ...] = catalogue.CORRUPTIONS,
    severities: tuple[int, ...] = catalogue.SEVERITIES,
    batch_size: int = CPU_BATCH,
    chunk_size: int = CPU_CHUNK,
    device: str | torch.device = "cpu",
    progress: bool = False,
    state: ChunkState | None = None,
    stop_at: float | None = None,
) -> dict:
    """Accuracy per corruption and severity on the set's first `n_examples` test images, with the per-image
    outcomes, the per-family means and (when all 75 are measured) RobustBench's mean. `state` keeps finished
    chunks and hands back those a killed call finished; `stop_at` (a `time.time()` value) stops before a chunk
    that would end after it (EvaluationStopped: the finished chunks are in `state`)."""
    corruptions = tuple(catalogue.check_corruption(c) for c in corruptions)
    severities = tuple(catalogue.check_severity(s) for s in severities)
    n = len(corruption_set) if n_examples is None else n_examples
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(corruption_set):
        raise BadInput(f"n_examples must be 1..{len(corruption_set)} for {corruption_set.name}, got {n!r}")
    for size, name in ((batch_size, "batch size"), (chunk_size, "chunk size")):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BadInput(f"{name} must be a positive integer, got {size!r}")
    device = torch.device(device)
    model = place(model, device, EVALUATION).eval()
    labels = torch.from_numpy(corruption_set.labels[:n])
    state = state if state is not None else ChunkState(None)
    context = {"schema": STATE_SCHEMA, "attack": ATTACK, "model": weights_sha256(model), **_set_key(corruption_set)}
    bounds = [(start, min(n, start + chunk_size)) for start in range(0, n, chunk_size)]
    work = [(c, s, b) for c in corruptions for s in severities for b in bounds]
    keys = [chunk_key(context, c, s, batch_size, *b) for c, s, b in work]
    kept = {key: _kept(state, key, *b) for key, (_c, _s, b) in zip(keys, work)}
    done = sum(stop - start for key, (_c, _s, (start, stop)) in zip(keys, work) if kept[key] is not None)
    seconds_per_image = None  # of the last chunk classified: what the next is expected to take
    total = len(work)
    resumed = chunks_done = sum(flags is not None for flags in kept.values())
    with tqdm(
        total=n * len(work) // len(bounds), initial=done, desc=ATTACK, unit="img", disable=not progress
    ) as bar:  # images classified: tqdm says their rate and the time left
        for key, (corruption, severity, (start, stop)) in zip(keys, work):
            if kept[key] is not None:
                continue
            if stop_at is not None and seconds_per_image is not None:
                needed = seconds_per_image * (stop - start)
                if not clock.fits(stop_at, needed):
                    why = f"{corruption} {severity} on {stop - start} images, estimated at {needed / 60:.1f} minutes"
                    raise EvaluationStopped(chunks_done, total, why)
            started = clock.now()
            x = to_float(corruption_set.images(corruption, severity, start, stop)).to(device)
            with torch.no_grad():
                predicted = predict(model, x, batch_size).cpu()
            flags = (predicted == labels[start:stop]).numpy()
            seconds = clock.now() - started
            state.put(key, {"correct": outcomes.encode(flags, start), "seconds": seconds})
            kept[key] = flags
            chunks_done += 1
            seconds_per_image = seconds / (stop - start)
            bar.update(stop - start)
    found: dict[str, dict[str, dict]] = {}
    for corruption in corruptions:
        found[corruption] = {}
        for severity in severities:
            parts = [kept[keys[work.index((corruption, severity, b))]] for b in bounds]
            found[corruption][str(severity)] = outcomes.encode(np.concatenate(parts))  # type: ignore[arg-type]
    seconds = sum(float((state.chunks.get(key) or {}).get("seconds") or 0.0) for key in keys)
    return {
        "threat_model": ATTACK,
        "corruption_set": corruption_set.describe(),
        "n_examples": n,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "outcomes": found,
        **corruption_outcomes.summary(found),
        "seconds": seconds,
        "chunks": {"size": chunk_size, "count": total, "resumed": resumed, "batch_size": batch_size},
    }


def settings(corruption_set: CorruptionSet) -> dict:
    """What an entry's `settings` say of the set (what decides its images: which set, a generated set's seed), so
    that two evaluations on the same set have the same settings."""
    return {"corruption_set": corruption_set.name} | ({"seed": corruption_set.seed} if corruption_set.generated else {})


def evaluation_entry(record: dict, clean_correct: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """The record as one entry of a results file's `evaluations` (attack `corruptions`, no eps): the mean over the
    75 as `robust_acc`, the set's provenance and the clean accuracy of the same images (`clean_correct`)."""
    if record["mean_accuracy"] is None:
        raise BadInput("a results entry for corruptions needs all 15 corruptions at all 5 severities")
    described = record["corruption_set"]
    n = record["n_examples"]
    return {
        "attack": ATTACK,
        "norm": ATTACK,
        "eps": None,
        "eps_value": None,
        "settings": {"corruption_set": described["name"]}
        | ({"seed": described["seed"]} if "seed" in described else {}),
        "clean_acc": float(clean_correct[:n].mean()),
        "robust_acc": record["mean_accuracy"],
        "attack_reported_acc": None,
        "per_class_robust_acc": corruption_outcomes.per_class(record["outcomes"], labels[:n], num_classes),
        "breakdown": record["families"],
        "max_perturbation": None,
        "n_examples": n,
        "seconds": record["seconds"],
        "chunks": record["chunks"],
        "corruption_set": described,
        "corruption_outcomes": record["outcomes"],
    }


# The data sets a model may be trained on for CIFAR-10-C to test it: CIFAR-10's classes, in CIFAR-10's order
CIFAR10_TRAINED = ("cifar10", "cifar10-sample")


def evaluate_model(
    ref: str,
    out: str | os.PathLike,
    set_name: str = catalogue.GENERATED,
    *,
    eps: str | None = None,
    corruptions: str | None = None,
    severities: str | None = None,
    n_examples: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    corruptions_dir: str | os.PathLike | None = None,
    zoo_dir: str | os.PathLike | None = None,
    batch_size: int = CPU_BATCH,
    chunk_size: int = CPU_CHUNK,
    device: str = "cpu",
    progress: bool = False,
    stop_at: float | None = None,
    recorded_ref: str | None = None,
) -> dict:
    """A model (run folder, checkpoint or zoo id) evaluated on a corruption set, its results written to `out`
    (atomically), finished chunks kept beside it until then (`state_path`) so that the same call continues a
    killed one. Everything that can be refused is refused before any image is classified. Only all 75 corruptions
    and severities make a results file; a selection is measured and its record returned, not written.
    `recorded_ref` is how the results name the model where the caller knows a name any checkout finds."""
    device = str(resolve_device(device))
    if eps is not None:
        raise BadInput(
            f"corruptions take no eps (got {eps!r}): their budget is the corruptions and severities 1-5 "
            "(all 75 by default)"
        )
    names, levels = catalogue.parse_selection(corruptions, severities)
    files.check_writable(out)
    model, info = load_model_ref(ref, zoo_dir=zoo_dir)
    if recorded_ref is not None and info.record["kind"] == "run":
        info.record["ref"] = recorded_ref
    if info.dataset_name not in CIFAR10_TRAINED:
        raise BadInput(
            f"{ref}: trained on {info.dataset_name or 'an unnamed data set'}; CIFAR-10-C tests CIFAR-10 models "
            f"({', '.join(CIFAR10_TRAINED)})"
        )
    corruption_set = load_corruption_set(set_name, data_dir, corruptions_dir, seed)
    dataset = load_dataset(SOURCES.get(set_name, "cifar10"), data_dir)
    wanted = {  # an existing file is replaced only by this very evaluation of these weights, run again
        "model": {"weights_sha256": info.record["weights_sha256"]},
        "dataset": {"name": dataset.name, "n_examples": n_examples},
        "precision": "fp32",
        "evaluations": [{"attack": ATTACK, "norm": ATTACK, "eps": None, "settings": settings(corruption_set)}],
    }
    reason = results_file.conflict(Path(out), wanted)
    if reason:
        raise BadInput(f"{out} {reason}; choose another --out, or delete the file to replace it")
    state = ChunkState(state_path(out))
    record = evaluate_corruptions(
        model,
        corruption_set,
        n_examples=n_examples,
        corruptions=names,
        severities=levels,
        batch_size=batch_size,
        chunk_size=chunk_size,
        device=device,
        progress=progress,
        state=state,
        stop_at=stop_at,
    )
    if not corruption_outcomes.complete(record["outcomes"]):
        state_path(out).unlink(missing_ok=True)
        return {"model": info.record} | record
    n = record["n_examples"]
    clean_pred = _clean_predictions(model, dataset.x_test[:n], batch_size, chunk_size, torch.device(device))
    y = torch.from_numpy(np.asarray(dataset.y_test[:n], np.int64))
    clean_correct = (clean_pred == y).numpy()
    entry = evaluation_entry(record, clean_correct, y.numpy(), dataset.num_classes)
    notes: list[str] = []
    block = model_block(model, info, dataset, dataset.fingerprint(), notes.append)
    results = finished_record(
        block, dataset, n, dataset.fingerprint(), "fp32", "ieee", clean_pred, y, [entry], torch.device(device), notes
    )
    files.write_json(out, results)
    state_path(out).unlink(missing_ok=True)
    return results


def _clean_predictions(model, x_u8: np.ndarray, batch_size: int, chunk_size: int, device) -> torch.Tensor:
    """The clean pass on the same images, chunk by chunk in the same batches as the corrupted ones."""
    model = place(model, device, EVALUATION).eval()
    found = []
    for start in range(0, len(x_u8), chunk_size):
        with torch.no_grad():
            found.append(predict(model, to_float(x_u8[start : start + chunk_size]).to(device), batch_size).cpu())
    return torch.cat(found)


def remeasured_outcomes(model, evaluation, data, n: int, device, data_dir=None) -> tuple[dict, dict]:
    """A corruptions entry measured again on its first n images, every corruption and severity, in its recorded
    chunk and batch sizes (`recheck`, `verify --full`): (the recorded outcomes, the outcomes now), each the 75
    vectors set after set in the catalogue's order as one record."""
    again = evaluate_corruptions(
        model,
        corruption_outcomes.measured_set(evaluation, data, data_dir),
        n_examples=n,
        batch_size=evaluation.chunks["batch_size"],
        chunk_size=evaluation.chunks["size"],
        device=device,
    )["outcomes"]
    sets = [(c, str(s)) for c in catalogue.CORRUPTIONS for s in catalogue.SEVERITIES]

    def joined(found) -> dict:
        return outcomes.encode(np.concatenate([outcomes.decode(found[c][s])[:n] for c, s in sets]))

    return joined(evaluation.corruption_outcomes), joined(again)
