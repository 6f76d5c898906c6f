"""Models trained elsewhere into the zoo (`zoo import`, `add_module`): an entry like any other, holding
`trained_elsewhere` in place of a run's `training` (docs/zoo.md, "Bring your own model"). Weights are read without
unpickling anything but plain tensors; every refusal is one line and leaves nothing written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save

from sam_bench import files, threat_models
from sam_bench.errors import BadInput
from sam_bench.models import FOREIGN, create_model, make_spec, own_class
from sam_bench.rundir import trained_normalization
from sam_bench.zoo import orphans, store
from sam_bench.zoo.ids import check_free, check_id

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


def trained_elsewhere(
    method: str,
    description: str,
    source: str,
    data: str,
    claims: list | None = None,
    additional_data: bool | None = None,
) -> dict:
    """How a model was trained, as its importer tells it; `claims`: figures published for it, to be checked;
    `additional_data`: RobustBench's "Extra data", None where the importer does not say (unknown, never false)."""
    told = {"method": method, "description": description, "source": source, "data": data}
    for key, value in told.items():
        if not isinstance(value, str) or not value.strip():
            raise BadInput(f"trained elsewhere: say the model's {key} (how it was trained is part of its entry)")
    if not all(c.islower() or c.isdigit() or c == "-" for c in method) or not method[0].islower():
        raise BadInput(f"trained elsewhere: method {method!r} is a short name in lower case, e.g. at, sam, trades")
    if additional_data not in (True, False, None):
        raise BadInput(f"trained elsewhere: additional data is true, false or unknown (None), not {additional_data!r}")
    return {**told, "claims": list(claims or []), "additional_data": additional_data}


def architecture_spec(
    arch, mean, std, num_classes: int = 10, width: float = 1.0, kwargs=None, cifar_adapted: bool = False
) -> dict:
    """The spec the entry rebuilds its model from. `arch`: an architecture's name, or a network class of your own
    code, rebuilt from `kwargs` and its module trusted in this process (docs/zoo.md, "A network of your own code");
    a timm model is built as timm defines it unless `cifar_adapted` (sam-bench's own CIFAR form of it)."""
    for name, values in (("mean", mean), ("std", std)):
        if len(list(values)) != 3:
            raise BadInput(f"normalization {name} has {len(list(values))} values; CIFAR images have 3 channels")
    if not isinstance(arch, str):  # a class of the user's own code
        arch = own_class.arch_name(arch)
        own_class.trust(arch[len(own_class.PREFIX) :].partition(":")[0])
        kwargs = own_class.json_arguments(kwargs, arch)
    spec = make_spec(arch, num_classes, mean, std, width, kwargs)
    if arch.startswith("timm:") and not cifar_adapted:
        spec["cifar_adapted"] = False
    return spec


def read_weights(path) -> dict[str, torch.Tensor]:
    """A state dict from a weights file: safetensors, or a torch file holding tensors only."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        return files.load_safetensors(path)
    if path.suffix not in WEIGHT_SUFFIXES:
        raise BadInput(f"{path}: give weights as .safetensors or a torch state dict (.pt, .pth)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, ... for what is not tensors alone
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err) or "pickle" in type(err).__name__.lower():
            raise BadInput(
                f"{path}: not weights only (it pickles Python objects, which sam-bench never unpickles): save "
                "model.state_dict() with torch.save, or the weights as safetensors"
            ) from None
        raise BadInput(f"{path}: not a readable torch file ({first[:120]})") from None
    return state_dict_of(loaded, str(path))


def state_dict_of(loaded, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: a plain state dict, or one under `state_dict` (RobustBench's and
    many training scripts' form); DataParallel's `module.` prefix removed."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise BadInput(f"{where}: holds no state dict (a mapping of parameter names to tensors)")
    state = {str(k): v for k, v in loaded.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _check_finite(state: Mapping[str, torch.Tensor], where: str) -> None:
    for name, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise BadInput(f"{where}: weights {name} hold NaN or inf; such a model's predictions mean nothing")


def fit(spec: dict, state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The state dict as the architecture names it, or one line naming the keys that are missing, extra or of
    another shape. A network of another library (timm, torchvision, RobustBench) sits behind the normalization
    as `net`: its own state dict fits with `net.` put in front."""
    expected = create_model(spec).state_dict()
    state = dict(state)
    if spec["arch"].startswith(FOREIGN) and not any(k.startswith("net.") for k in state):
        state = {f"net.{k}": v for k, v in state.items()}
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} where {spec['arch']} has {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("extra", extra), ("of another shape", shapes)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:3])}{more}")
    if problems:
        raise BadInput(f"{where}: the weights do not fit {spec['arch']} ({'; '.join(problems)})")
    for k, value in state.items():
        if not value.is_floating_point() and value.dtype != expected[k].dtype:
            state[k] = value.to(expected[k].dtype)  # BatchNorm's counter saved as int32 by some scripts
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def add_module(
    model,
    arch: dict,
    trained: dict,
    model_id: str,
    *,
    dataset: str = "cifar10",
    threat_model: str = "Linf",
    zoo_dir=None,
    precision: str = "auto",
    paper: dict | None = None,
    source_file=None,
) -> dict:
    """Add a model trained elsewhere to the zoo; returns its entry. `model`: a torch module or its state dict;
    `arch`: its spec (`architecture_spec`), rebuilt here and its state dict's keys and shapes compared with the
    model's; `trained`: `trained_elsewhere(...)`; `source_file`: the weights' file, named in the entry."""
    if isinstance(model, torch.nn.Module) and arch["arch"].startswith(own_class.PREFIX):
        built_by = own_class.resolve(arch["arch"])
        if type(model) is not built_by:
            raise BadInput(
                f"{model_id}: the model is a {type(model).__module__}.{type(model).__qualname__}, but its "
                f"architecture names {arch['arch']}: give the class it is an instance of"
            )
    state = model.state_dict() if isinstance(model, torch.nn.Module) else state_dict_of(model, model_id)
    return store._locked(
        zoo_dir,
        lambda: _add(state, arch, trained, model_id, dataset, threat_model, zoo_dir, precision, paper, source_file),
    )


def import_file(path, arch: dict, trained: dict, model_id: str, **options) -> dict:
    """`sam-bench zoo import`: a weights file into the zoo (see add_module)."""
    return add_module(read_weights(path), arch, trained, model_id, source_file=path, **options)


def _add(state, arch, trained, model_id, dataset, threat_model, zoo_dir, precision, paper, source_file) -> dict:
    zoo = store._zoo(zoo_dir)
    if precision not in ("auto", "fp32", "fp16"):
        raise BadInput(f"unknown precision {precision!r}; choose auto, fp32 or fp16")
    if dataset not in store.DATASETS:
        raise BadInput(f"unknown dataset {dataset!r}; choose {' or '.join(store.DATASETS)}")
    threat_models.threat_model(threat_model)  # BadInput for a threat model no record has
    if zoo.exists() and not zoo.is_dir():
        raise BadInput(f"--zoo-dir {zoo}: a file, not a folder; give the zoo's folder (or a new one)")
    check_id(model_id)
    check_free(model_id, [p.stem for p in store._json_paths(zoo)])
    where = str(source_file or model_id)
    _check_finite(state, where)
    state = fit(arch, state, where)
    dtype = "float16" if precision == "fp16" else "float32"
    fp32_bytes = sum(v.numel() * 4 for v in state.values() if v.is_floating_point())
    if precision == "auto" and fp32_bytes > store.FP16_ABOVE_BYTES:  # the zoo's one rule (store.add)
        dtype = "float16"
    if dtype == "float16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        _check_finite(state, f"{where} in fp16 (overflow; import it with --precision fp32)")
    else:
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}

    data = save(state, metadata={**trained_normalization.header(arch), "sam_bench_id": model_id})
    folder = zoo / dataset / threat_model
    store._check_new_weights(folder, data, zoo)
    orphans.clear(zoo, model_id)
    entry = store._write_new(
        folder,
        model_id,
        arch,
        data,
        dtype,
        None,
        method=trained["method"],
        trained_on=trained["data"],
        training_cost={},
        described=trained["description"],
        paper={"link": trained["source"], **(paper or {})},
        added={
            "imported_from": Path(source_file).name if source_file else None,
            "source_sha256": files.sha256_file(source_file) if source_file else None,
        },
        record={"trained_elsewhere": trained},
    )
    return dict(entry)


def is_imported(entry: Mapping) -> bool:
    return "trained_elsewhere" in entry


def additional_data(entry: Mapping) -> bool | None:
    """RobustBench's "Extra data" of a zoo model: never for a run of sam-bench; for a model trained elsewhere, what
    its importer said, None where unknown (docs/zoo.md, "Extra data")."""
    if not is_imported(entry):
        return False
    return entry["trained_elsewhere"].get("additional_data")


def claim(threat_model: str, eps: str, clean_acc, autoattack_acc, source: str) -> dict:
    """A figure published for a model (percent), recorded to be checked, never shown as a result."""
    for name, value in (("clean", clean_acc), ("AutoAttack", autoattack_acc)):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 100):
            raise BadInput(f"claimed {name} accuracy {value!r} is not a percentage")
    return {
        "threat_model": threat_model,
        "eps": eps,
        "clean_acc": clean_acc,
        "autoattack_acc": autoattack_acc,
        "source": source,
    }
