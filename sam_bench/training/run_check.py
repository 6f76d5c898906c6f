"""A run's metadata against what its training logged: the recipe and progress a run folder's `metadata.json`
states are believed only where its `log.jsonl` and weights bear them out.

`metadata.json` is plain JSON that anyone can edit, and `train --resume`, `zoo add` and publication act on it, so
all three read one rule (`check`): a mismatch is refused in one line naming the field and both values. Every time
field cut by one factor is not caught: only timing the recipe again could tell.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.training.config import TrainConfig
from sam_bench.training.epoch import learning_rate

LOG = "log.jsonl"
FIX = "restore metadata.json (e.g. git checkout) or train the run again: a changed recipe is a new run"


def read_log(run_dir: Path) -> list[dict] | None:
    """The epochs a run logged, in order; None where it has no log (nothing to compare with)."""
    path = Path(run_dir) / LOG
    if not path.is_file():
        return None
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SamBenchError(f"{path}: not a training log ({err}); restore it or train the run again") from None
    if not all(isinstance(r, dict) for r in records):
        raise SamBenchError(f"{path}: not a training log (a line is not an epoch's record); restore it")
    return records


def _same(a, b) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check(metadata: Mapping, logged: list[dict] | None, where: str) -> None:
    """`metadata` (a run's, or a zoo entry's copy of it) against its `logged` epochs (None: no log at hand, the
    metadata against itself only); a one-line SamBenchError naming the field and both values where they differ."""

    def refuse(said: str) -> None:
        raise SamBenchError(f"{where}: {said}; {FIX}")

    cfg = metadata["config"]
    epochs, done, finished = cfg["epochs"], metadata.get("epochs_done"), metadata["status"] == "complete"
    if (finished and done != epochs) or (done is not None and done > epochs):
        refuse(f"config.epochs is {epochs}, but epochs_done is {done}")
    built = (metadata.get("arch") or {}).get("arch")
    if built is not None and built != cfg["arch"]:
        refuse(f"config.arch is {cfg['arch']!r}, but the model built (arch.arch) is {built!r}")
    if logged is None:
        return
    numbers = [r.get("epoch") for r in logged]
    if numbers != list(range(1, len(logged) + 1)):
        refuse(f"{LOG} numbers its epochs {numbers[:5]}{'...' if len(numbers) > 5 else ''}, not 1, 2, ...")
    if (finished and len(logged) != epochs) or len(logged) > epochs:
        refuse(f"config.epochs is {epochs}, but {LOG} holds {len(logged)} epochs")
    if done is not None and done != len(logged):
        refuse(f"epochs_done is {done}, but {LOG} holds {len(logged)} epochs")
    config = TrainConfig.from_dict(dict(cfg))
    used = metadata.get("n_train_used")
    for record in logged:
        for key in ("method", "rho"):  # logs written before epochs recorded their steps lack them
            if key in record and record[key] != getattr(config, key) and not _same(record[key], getattr(config, key)):
                refuse(
                    f"config.{key} is {getattr(config, key)!r}, but {LOG} logged epoch {record['epoch']}'s steps "
                    f"with {key} {record[key]!r}"
                )
        images = record.get("images")
        if used is not None and images is not None and not used - config.batch_size < images <= used:
            refuse(
                f"n_train_used is {used:,}, but {LOG} logged {images:,} images in epoch {record['epoch']} "
                f"(batches of {config.batch_size}, the last short one left out)"
            )
        _check_times(record, metadata.get("cpu_threads"), refuse)
        expected = learning_rate(config, record["epoch"] - 1, 0, 1)  # the rate at an epoch's first step
        if not _same(record.get("lr"), expected):
            refuse(
                f"config.lr is {cfg['lr']:g} ({cfg['schedule']} over {epochs} epochs), which gives epoch "
                f"{record['epoch']} a learning rate of {expected:g}, but {LOG} logged {record.get('lr')}"
            )
    if not finished or not logged:
        return
    for key, value in (metadata.get("final") or {}).items():
        if not _same(value, logged[-1].get(key)):
            refuse(f"final.{key} is {value}, but the last epoch of {LOG} logged {logged[-1].get(key)}")
    seconds = sum(r.get("seconds", 0.0) for r in logged)
    if metadata.get("wall_time_s") is not None and not math.isclose(metadata["wall_time_s"], seconds, rel_tol=1e-6):
        refuse(f"wall_time_s is {metadata['wall_time_s']:.1f}, but the epochs of {LOG} took {seconds:.1f} s")
    cpu = sum(r.get("cpu_seconds", 0.0) for r in logged)  # epochs logged before it existed: 0, as training sums them
    said = metadata.get("cpu_time_s")
    if said is not None and not math.isclose(said, cpu, rel_tol=1e-6, abs_tol=1e-9):
        refuse(f"cpu_time_s is {metadata['cpu_time_s']:.1f}, but the epochs of {LOG} took {cpu:.1f} CPU seconds")
    images = sum(r.get("images", 0) for r in logged)
    rate = metadata.get("images_per_s")
    if rate is not None and seconds > 0 and not math.isclose(rate, images / seconds, rel_tol=1e-6):
        refuse(f"images_per_s is {rate:.1f}, but {LOG} logged {images:,} images in {seconds:.1f} s")


# A process's CPU time over an epoch is at most its threads' share of the wall time: on every committed run that
# recorded its threads, CPUs and GPUs alike, CPU seconds / (wall seconds x cpu_threads) stays at most 1
# (tests/test_run_times.py holds them to it). The slack forgives a helper thread beside torch's and a clock's
# granularity.
CPU_SLACK, CPU_SLACK_S = 1.1, 1.0


def _check_times(record: Mapping, threads, refuse) -> None:
    """An epoch's logged times against one another, where it logged them."""
    seconds, epoch = record.get("seconds"), record.get("epoch")
    if not isinstance(seconds, int | float):
        return
    rate, images = record.get("images_per_s"), record.get("images")
    if (
        isinstance(rate, int | float)
        and isinstance(images, int)
        and not math.isclose(rate, images / max(seconds, 1e-9), rel_tol=1e-6)
    ):
        refuse(f"{LOG} logged epoch {epoch} at {rate:.1f} images/s, but {images:,} images in {seconds:.2f} s")
    first = record.get("first_step_s")
    if isinstance(first, int | float) and first > seconds * (1 + 1e-9):
        refuse(f"{LOG} logged epoch {epoch}'s first step at {first:.2f} s, longer than the epoch's {seconds:.2f} s")
    cpu = record.get("cpu_seconds")
    if isinstance(cpu, int | float) and isinstance(threads, int) and threads > 0:
        if cpu > seconds * threads * CPU_SLACK + CPU_SLACK_S:
            refuse(
                f"{LOG} logged epoch {epoch} at {cpu:.1f} CPU seconds in {seconds:.2f} s of wall time, more than "
                f"{threads} thread{'s' if threads > 1 else ''} can spend (cpu_threads)"
            )


def check_folder(run_dir: Path, metadata: Mapping) -> None:
    """A run folder's metadata against its log and, where its weights file is in the folder, the architecture
    the file's header names."""
    run_dir = Path(run_dir)
    where = str(run_dir / "metadata.json")
    check(metadata, read_log(run_dir), where)
    weights = run_dir / str(metadata.get("weights") or "model.safetensors")
    if metadata["status"] == "complete" and weights.is_file():
        header = files.safetensors_header(weights).get("arch")
        if header is not None and header != metadata["config"]["arch"]:
            raise SamBenchError(
                f"{where}: config.arch is {metadata['config']['arch']!r}, but {weights.name} holds weights of "
                f"{header!r}; {FIX}"
            )
