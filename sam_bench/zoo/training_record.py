"""What a zoo entry says of its model's training (`training`, the run's metadata, and `training_cost`, the board's
summary), checked before it is published by the rule that checks a run folder (sam_bench.training.run_check),
against the run's log: a model is not published as trained here on a record that no log bears out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError
from sam_bench.training import run_check
from sam_bench.zoo.entry import RESTORE

CHECKOUT = Path(__file__).resolve().parents[2]


def training_cost(metadata: Mapping) -> dict:
    """What a board shows of a run's training, from its metadata."""
    return {
        "wall_time_s": metadata.get("wall_time_s"),
        "device": metadata.get("device"),
        "device_name": metadata.get("device_name"),
        "images_per_s": metadata.get("images_per_s"),
        "passes_per_step": metadata.get("passes_per_step"),
        "epochs": metadata["config"].get("epochs"),
        "n_train": metadata.get("n_train_used", metadata["dataset"].get("n_train")),
    }


def run_folder(entry: Mapping) -> Path | None:
    """The run folder the entry was added from, where it is still here with the very weights it was added with
    (`added.from_run`: as given then, relative to where `zoo add` ran or to the checkout); None otherwise."""
    added = entry.get("added") or {}
    given = added.get("from_run")
    if not given:
        return None
    for folder in (Path(given), CHECKOUT / given):
        meta = folder / "metadata.json"
        if meta.is_file():
            try:
                found = files.read_json(meta)
            except SamBenchError:
                return None
            same = isinstance(found, dict) and found.get("weights_sha256") == added.get("run_weights_sha256")
            return folder if same else None
    return None


def check_entry(entry: Mapping, where: str) -> None:
    """The entry's training record as the run logged it, and the board's summary as that record says; one line
    naming the field and both values where they differ. A model trained elsewhere has no run log to be checked
    against, and may claim no part of a run here."""
    if "trained_elsewhere" in entry:
        here = [key for key in ("training",) if key in entry]
        here += ["training_cost"] if entry.get("training_cost") else []
        here += ["added.from_run"] if (entry.get("added") or {}).get("from_run") else []
        if here:
            raise SamBenchError(f"{where}: trained elsewhere, yet it states {', '.join(here)} of a run here; {RESTORE}")
        return
    training = entry["training"]
    folder = run_folder(entry)
    logged = run_check.read_log(folder) if folder is not None else None
    if logged is None:
        given = (entry.get("added") or {}).get("from_run")
        where_run = (
            f"its run folder {given} holds no {run_check.LOG}"
            if folder is not None
            else (f"its run folder ({given or 'not recorded'}) is not here with the weights it was added with")
        )
        raise SamBenchError(
            f"{where}: {where_run}: what a board shows of a model trained here (method, rho, images, epochs, time) "
            f"is read from its training log, and none is at hand; restore the run folder (git checkout) or train "
            f"and add the run again"
        )
    run_check.check(training, logged, f"{where}: training")
    for key, value in training_cost(training).items():
        shown = (entry.get("training_cost") or {}).get(key)
        if shown != value:
            source = "config.epochs" if key == "epochs" else key
            raise SamBenchError(
                f"{where}: training_cost.{key} is {shown!r}, but training.{source} is {value!r}; {RESTORE}"
            )
