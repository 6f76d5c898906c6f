"""The models an evaluation takes: a run directory, a .safetensors checkpoint with its metadata, or a
model-zoo id (`load_model_ref`), with the record a results file keeps of it; bf16 evaluation's wrapper."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from sam_bench import files, schema
from sam_bench.errors import BadInput
from sam_bench.rundir import trained_normalization


@dataclass
class LoadedModel:
    record: dict  # the results' "model" block
    dataset_name: str | None  # the data set the model was trained on
    dataset_sha256: str | None


# What a results file keeps of the model's training run
TRAINING_KEYS = ("config", "wall_time_s", "images_per_s", "passes_per_step", "device_name", "cpu_threads")


def _from_metadata(
    ref: str, kind: str, metadata: dict, zoo_id: str | None = None, sha256: str | None = None
) -> LoadedModel:
    ds = metadata["dataset"] if isinstance(metadata.get("dataset"), dict) else {}
    return LoadedModel(
        record={
            "ref": ref,
            "kind": kind,
            "zoo_id": zoo_id,
            "weights_sha256": sha256 or metadata.get("weights_sha256"),
            "arch": metadata.get("arch"),
            "method": metadata.get("method"),
            "training": {k: metadata.get(k) for k in TRAINING_KEYS} if metadata else None,
        },
        dataset_name=ds.get("name"),
        dataset_sha256=ds.get("sha256"),
    )


def _checkpoint_metadata(path: Path) -> dict:
    for candidate in (path.with_suffix(".json"), path.parent / "metadata.json"):  # zoo layout, run layout
        if candidate.is_file():
            metadata = files.read_json(candidate)
            if isinstance(metadata, dict) and "arch" in metadata:
                # a zoo entry (its weights' sha256 at the top) or a run's metadata, checked before use
                kind = "zoo-entry" if "schema" in metadata else "run-metadata"
                return schema.check(kind, metadata, str(candidate), fix="restore the file next to the weights")
    raise BadInput(
        f"{path}: no {path.stem}.json or metadata.json (with the model's 'arch') next to it; cannot rebuild the model"
    )


def load_model_ref(ref: str, zoo_dir=None) -> tuple[torch.nn.Module, LoadedModel]:
    """An existing directory is a run; an existing *.safetensors file a checkpoint (metadata.json
    next to it); anything else a model-zoo id. Weights are checked against their sha256."""
    from sam_bench.rundir.model import build_model, load_run, load_weights_verified

    path = Path(ref).expanduser()
    looks_like_a_path = "/" in ref or os.sep in ref or ref.startswith((".", "~"))  # zoo ids have none of these
    if looks_like_a_path and not path.exists() and path.suffix != ".safetensors":
        raise BadInput(f"{ref}: no such run directory or checkpoint file")
    if path.is_dir():
        model, metadata = load_run(path)
        return model, _from_metadata(ref, "run", metadata)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise BadInput(f"{ref}: no such checkpoint file")
        metadata = _checkpoint_metadata(path)
        expected = metadata.get("weights_sha256")
        if not expected:
            raise BadInput(f"{path}: its metadata records no weights_sha256; cannot verify the weights")
        state = load_weights_verified(path, expected)
        model = build_model(metadata["arch"], state, str(path))
        # A zoo entry (<ModelId>.json) keeps the run's metadata under "training".
        run_metadata = metadata["training"] if isinstance(metadata.get("training"), dict) else metadata
        # a model trained elsewhere (sam_bench.zoo.imported) has no run: its entry names its data set family
        family = metadata["dataset"] if "trained_elsewhere" in metadata else run_metadata["dataset"]["family"]
        trained_normalization.check(metadata["arch"], files.safetensors_header(path), family, str(path))
        loaded = _from_metadata(ref, "checkpoint", run_metadata, sha256=expected)
        loaded.record["arch"] = metadata["arch"]
        return model, loaded
    if path.is_file():  # an existing file that is no checkpoint, rather than "unknown model id"
        raise BadInput(
            f"{ref}: a file that holds no model; give a run directory, a .safetensors checkpoint or a zoo id"
        )
    try:
        from sam_bench.zoo.store import load_model_with_info
    except ModuleNotFoundError as err:
        if err.name != f"{__package__}.zoo":
            raise
        raise BadInput(f"{ref}: no such run directory or checkpoint, and no model zoo to look it up in") from None
    model, entry = load_model_with_info(ref, zoo_dir=zoo_dir)
    loaded = _from_metadata(ref, "zoo", entry.training or {}, zoo_id=entry.id, sha256=entry.weights_sha256)
    loaded.record["arch"] = entry.arch or loaded.record["arch"]
    loaded.record["method"] = loaded.record["method"] or entry.method  # trained elsewhere: no run record
    if loaded.dataset_name is None:
        loaded.dataset_name = entry.dataset
    return model.eval(), loaded


def weights_sha256(model: torch.nn.Module) -> str:
    """Identity of an in-memory model: sha256 of its state_dict in safetensors form."""
    from safetensors.torch import save

    return hashlib.sha256(save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})).hexdigest()


def model_name(ref: str) -> str:
    """A short name for file names and plots: the run folder's name, the checkpoint's stem (its
    folder's name for model.safetensors) or the zoo id."""
    path = Path(str(ref).rstrip("/\\"))
    if path.suffix == ".safetensors":
        name = path.parent.name if path.stem == "model" and path.parent.name else path.stem
    else:
        name = path.name or str(ref)
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def default_output(ref: str, attack: str, norm: str | None, folder: str | Path = "results") -> Path:
    """results/<model>_<attack>_<norm>.json (norm 'none' for clean)."""
    return Path(folder) / f"{model_name(ref)}_{attack}_{norm or 'none'}.json"


class Bf16(torch.nn.Module):
    """Runs the wrapped network under bf16 autocast; logits come back in fp32."""

    def __init__(self, net: torch.nn.Module, device_type: str):
        super().__init__()
        self.net, self.device_type = net, device_type

    def forward(self, x):
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.net(x).float()
