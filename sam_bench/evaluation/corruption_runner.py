"""The corruptions threat model as an evaluation runs it: the model's accuracy on each corruption at each
severity of a corruption set, and RobustBench's headline, the mean over all 75.

    record = evaluate_corruptions(model, load_corruption_set("cifar10-sample-c-generated"))
    record["mean_accuracy"], record["families"]["weather"], record["accuracy"]["fog"]["3"]

Images are made (or read) and classified chunk by chunk, `chunk_size` test images of one corruption and
severity at a time, each chunk in batches of `batch_size`, as the clean pass is: nothing is held but one
chunk. Every figure is derived from the per-image outcomes the record keeps (bit-packed, `outcomes`), one
vector per corruption and severity, so that two models are compared image by image and a re-measurement
is compared bit for bit: the set is deterministic and the model runs in eval mode in true fp32, so the same
model, set and sizes give the same outcomes.

`evaluation_entry` turns the record into one entry of a results file's `evaluations` (attack `corruptions`,
no norm or eps, its set said in `settings`). `evaluate_model` is the whole call from a model reference (a
run, a checkpoint or a zoo id) to a record file: what a command runs.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.attacks.autoattack import predict
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import CorruptionSet, load_corruption_set
from sam_bench.errors import BadInput
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.batching import CPU_BATCH, CPU_CHUNK
from sam_bench.evaluation.evaluate import to_float
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place

ATTACK = "corruptions"


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
) -> dict:
    """Accuracy per corruption and severity on the set's first `n_examples` test images, with the per-image
    outcomes, the per-family means and (when all 75 are measured) RobustBench's mean."""
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
    found: dict[str, dict[str, dict]] = {}
    with tqdm(total=n * len(corruptions) * len(severities), desc=ATTACK, unit="img", disable=not progress) as bar:
        for corruption in corruptions:
            found[corruption] = {}
            for severity in severities:
                correct = []
                for start in range(0, n, chunk_size):
                    stop = min(n, start + chunk_size)
                    x = to_float(corruption_set.images(corruption, severity, start, stop)).to(device)
                    with torch.no_grad():
                        predicted = predict(model, x, batch_size).cpu()
                    correct.append(predicted == labels[start:stop])
                    bar.update(stop - start)
                found[corruption][str(severity)] = outcomes.encode(torch.cat(correct))
    return _record(corruption_set, n, found, batch_size, chunk_size)


def _record(corruption_set: CorruptionSet, n: int, found: dict, batch_size: int, chunk_size: int) -> dict:
    record = {
        "threat_model": ATTACK,
        "corruption_set": corruption_set.describe(),
        "n_examples": n,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "outcomes": found,
    }
    return record | summary(found)


def summary(found: dict) -> dict:
    """Every figure of a record, derived from its per-image outcomes: accuracy per corruption and severity,
    per corruption, per family (over the corruptions measured in it) and the mean over the 75 (None unless
    every corruption was measured at every severity)."""
    accuracy = {
        c: {s: float(outcomes.decode(record).mean()) for s, record in by_severity.items()}
        for c, by_severity in found.items()
    }
    per_corruption = {c: float(np.mean(list(a.values()))) for c, a in accuracy.items()}
    families = {
        family: float(np.mean([per_corruption[c] for c in members if c in per_corruption]))
        for family, members in catalogue.FAMILIES.items()
        if any(c in per_corruption for c in members)
    }
    complete = set(found) == set(catalogue.CORRUPTIONS) and all(
        set(by_severity) == {str(s) for s in catalogue.SEVERITIES} for by_severity in found.values()
    )
    mean = float(np.mean([a for by in accuracy.values() for a in by.values()])) if complete else None
    return {"accuracy": accuracy, "per_corruption": per_corruption, "families": families, "mean_accuracy": mean}


def same_outcomes(first: dict, second: dict) -> list[str]:
    """Where two records of the same model and set differ image by image ("fog 3: 2 of 500 images"): empty
    when a re-measurement matches, as it must."""
    differ = []
    for corruption, by_severity in first["outcomes"].items():
        for severity, record in by_severity.items():
            other = second["outcomes"].get(corruption, {}).get(severity)
            if other is None:
                differ.append(f"{corruption} {severity}: not measured again")
                continue
            a, b = outcomes.aligned(record, other)
            if (a != b).any():
                differ.append(f"{corruption} {severity}: {int((a != b).sum())} of {len(a)} images")
    return differ


def evaluation_entry(record: dict, seconds: float | None = None) -> dict:
    """The record as one entry of a results file's `evaluations`: attack `corruptions`, its headline (the mean
    over the 75) as `robust_acc`, its set (generated or official) in `settings`, the per-image outcomes per
    corruption and severity, and the breakdown per family."""
    if record["mean_accuracy"] is None:
        raise BadInput("a results entry for corruptions needs all 15 corruptions at all 5 severities")
    entry = {
        "attack": ATTACK,
        "norm": None,
        "eps": None,
        "robust_acc": record["mean_accuracy"],
        "n_examples": record["n_examples"],
        "settings": {
            "corruption_set": record["corruption_set"],
            "batch_size": record["batch_size"],
            "chunk_size": record["chunk_size"],
        },
        "corruption_outcomes": record["outcomes"],
        "breakdown": record["families"],
    }
    return entry | ({"seconds": seconds} if seconds is not None else {})


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
) -> dict:
    """A model (run folder, checkpoint or zoo id) evaluated on a corruption set, its record written to `out`
    (atomically, the model's weights sha256 in it). Everything that can be refused is refused before any image
    is classified: a budget of another threat model, an unknown corruption or severity, an unwritable `out`, a
    model not trained on CIFAR-10's classes, a set that fails its checks."""
    catalogue.check_budget(catalogue.THREAT_MODEL, eps=eps)
    names, levels = catalogue.parse_selection(corruptions, severities)
    files.check_writable(out)
    model, info = load_model_ref(ref, zoo_dir=zoo_dir)
    if info.dataset_name not in CIFAR10_TRAINED:
        raise BadInput(
            f"{ref}: trained on {info.dataset_name or 'an unnamed data set'}; CIFAR-10-C tests CIFAR-10 models "
            f"({', '.join(CIFAR10_TRAINED)})"
        )
    corruption_set = load_corruption_set(set_name, data_dir, corruptions_dir, seed)
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
    )
    record = {"model": info.record} | record
    files.write_json(out, record)
    return record
