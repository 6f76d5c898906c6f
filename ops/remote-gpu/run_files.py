"""Which files of a run directory (a reproduction folder's runs/<run>/, beside its metadata.json) a pack takes,
for packing.py: a finished run's checkpoint is spent, and a run's own weights come back only where they are its
only copy.

A model's first seed is published to the zoo, which keeps an fp16 copy of its weights (the zoo entry is what
comes back, and what is evaluated); a later seed is not (a zoo id names a model, not one of its seeds), so its
fp32 `model.safetensors` (42.7 MiB at full width) is the only copy of it: the reproduction folder's `plan.json`
says which runs are later seeds (`primary: false`). Once its training is complete, a later seed's weights come
back, so that they can be kept in git (`sam-bench zoo keep`), re-measured (`sam-bench recheck`) and carried to
the next machine when its evaluation is still to finish (ops/remote-gpu/gpu_weights.py).
"""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.errors import SamBenchError

RUN_WEIGHTS = "model.safetensors"  # what `sam-bench train` names a run's weights


def finished_run(folder: Path) -> bool:
    """A run directory whose training is complete (its metadata says so): its checkpoint is spent."""
    try:
        return files.read_json(folder / "metadata.json").get("status") == "complete"
    except (SamBenchError, AttributeError):
        return False


def later_seed(run_dir: Path) -> bool:
    """Whether the reproduction folder holding `run_dir` lists it in its plan.json as a model's later seed (not
    published to the zoo); False where no plan.json names it, or it cannot be read."""
    try:
        plan = files.read_json(run_dir.parent.parent / "plan.json")
        models = plan.get("models") or []
        return any(f"{m['name']}-{m['key']}" == run_dir.name and m.get("primary") is False for m in models)
    except (SamBenchError, AttributeError, KeyError, TypeError):
        return False


def published_run_weights(file: Path) -> bool:
    """A run's own weights that a pack for the workstation leaves out: every run's `model.safetensors` but a
    finished later seed's (a first seed's zoo entry comes back instead; an unfinished run has none to bring)."""
    run_dir = file.parent
    if file.name != RUN_WEIGHTS or run_dir.parent.name != "runs":
        return False
    return not (finished_run(run_dir) and later_seed(run_dir))
