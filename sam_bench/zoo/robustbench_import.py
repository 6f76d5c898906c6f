"""RobustBench's own models into the zoo: a RobustBench id and its downloaded `<id>.pt`, built by robustbench's
own definition and read as its `load_model` reads it, but with `torch.load(weights_only=True)`; its published
figures kept as claims to check, never shown as results (docs/zoo.md, "Bring your own model").
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from sam_bench.errors import BadInput
from sam_bench.models import make_spec, robustbench_adapter
from sam_bench.zoo import imported
from sam_bench.zoo.ids import ID_PATTERN, ROBUSTBENCH_ID_PREFIX

NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
SOURCE = "https://github.com/RobustBench/robustbench/tree/master/model_info/{dataset}/{threat_model}/{id}.json"
# checkpoints that RobustBench's load_model reads under a key of their own (robustbench/utils.py)
NESTED = {"Kireev2021Effectiveness": "last", "Andriushchenko2020Understanding": "last"}


def default_id(robustbench_id: str) -> str:
    """Ours beside theirs: RobustBench's id with `_imported`, where that is an id of RobustBench's scheme."""
    candidate = f"{robustbench_id}_imported"
    if not ID_PATTERN.fullmatch(candidate):
        raise BadInput(
            f"RobustBench's {robustbench_id!r} has no year in its id; give the entry an id with --id "
            "(e.g. RobustBench2020Standard_imported)"
        )
    return candidate


def installed_additional_data(dataset: str, threat_model: str, robustbench_id: str, info: dict) -> bool | None:
    """Whether the installed robustbench's model info says that the model was trained with additional data: its
    model list's entry (`info`), or a `model_info/<dataset>/<threat model>/<id>.json` beside its package (a checkout
    of RobustBench's repository); None where neither says it (robustbench 1.1.1 from PyPI ships no model info)."""
    if isinstance(info.get("additional_data"), bool):
        return info["additional_data"]
    spec = importlib.util.find_spec("robustbench")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    for root in (package, package.parent):
        path = root / "model_info" / dataset / threat_model / f"{robustbench_id}.json"
        if path.is_file():
            try:
                said = json.loads(path.read_text()).get("additional_data")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(said, bool):
                return said
    return None


def recorded_additional_data(robustbench_id: str, known: bool | None, given: bool | None) -> bool:
    """What a RobustBench import records as its model's additional data: what RobustBench's model info says
    (`known`), else what the importer says (`given`); one line where neither says it, or where they differ."""
    flag = {True: "--additional-data", False: "--no-additional-data"}
    if known is None and given is None:
        raise BadInput(
            f"RobustBench's model info here does not say whether {robustbench_id} was trained with additional data "
            f"(its boards' Extra data): say it with {flag[True]} or {flag[False]}"
        )
    if known is not None and given is not None and known != given:
        raise BadInput(
            f"RobustBench's model info lists {robustbench_id} {'with' if known else 'without'} additional data; "
            f"leave out {flag[given]}"
        )
    return known if known is not None else bool(given)


def read_checkpoint(path, robustbench_id: str) -> dict:
    """The state dict of a RobustBench checkpoint, taken apart as robustbench.utils.load_model does."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such checkpoint file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a pickle that is not weights only, or no pickle at all
        raise BadInput(
            f"{path}: not a checkpoint of tensors only (sam-bench loads RobustBench's files with "
            "torch.load(weights_only=True) and never unpickles Python objects)"
        ) from None
    key = next((k for name, k in NESTED.items() if robustbench_id.startswith(name)), None)
    if key and isinstance(loaded, dict) and key in loaded:
        loaded = loaded[key]
    state = imported.state_dict_of(loaded, str(path))
    for part in ("module.", "model."):
        state = {k.replace(part, ""): v for k, v in state.items()}
    return state


def import_checkpoint(
    robustbench_id: str,
    path,
    *,
    model_id: str | None = None,
    dataset: str = "cifar10",
    threat_model: str = "Linf",
    method: str = "robustbench",
    claims: list | None = None,
    zoo_dir=None,
    precision: str = "auto",
    additional_data: bool | None = None,
    listed_additional_data: bool | None = None,
) -> dict:
    """A RobustBench model from its checkpoint file into the zoo (imported.add_module); returns the entry. Its
    additional data: the installed robustbench's model info, else `listed_additional_data` (sam-bench's copy), else
    the importer's `additional_data` (docs/zoo.md, "Extra data")."""
    info = robustbench_adapter.constructor(dataset, threat_model, robustbench_id)  # one line if unknown
    if str(info.get("gdrive_id", "")).startswith(ROBUSTBENCH_ID_PREFIX):
        raise BadInput(f"{robustbench_id} is one of this zoo's own entries, not RobustBench's; it is in the zoo")
    if dataset not in NUM_CLASSES:
        raise BadInput(f"unknown dataset {dataset!r}; choose {' or '.join(NUM_CLASSES)}")
    arch = robustbench_adapter.arch_name(dataset, threat_model, robustbench_id)
    identity = robustbench_adapter.IDENTITY
    spec = make_spec(arch, NUM_CLASSES[dataset], identity["mean"], identity["std"])
    source = SOURCE.format(dataset=dataset, threat_model=threat_model, id=robustbench_id)
    state = read_checkpoint(path, robustbench_id)
    known = installed_additional_data(dataset, threat_model, robustbench_id, info)
    if known is None:
        known = listed_additional_data
    extra = recorded_additional_data(robustbench_id, known, additional_data)
    data = f"{dataset} and additional data" if extra else dataset
    trained = imported.trained_elsewhere(method, f"RobustBench's {robustbench_id}", source, data, claims, extra)
    trained["robustbench_id"] = robustbench_id
    return imported.add_module(
        state,
        spec,
        trained,
        model_id or default_id(robustbench_id),
        dataset=dataset,
        threat_model=threat_model,
        zoo_dir=zoo_dir,
        precision=precision,
        source_file=path,
    )
