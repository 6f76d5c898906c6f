"""The model zoo: add, load, list and verify entries, and the bridge that lets RobustBench's `load_model` load them
(docs/zoo.md: layout, sha256 checks, where weights not in the tree are found, the RobustBench bridge)."""

from __future__ import annotations

import contextlib
import datetime
import difflib
import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load, save

from sam_bench import files, threat_models
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.models import arguments
from sam_bench.rundir import blobs, trained_normalization
from sam_bench.rundir.model import build_model, has_weights, load_run, read_metadata
from sam_bench.rundir.model import weights_path as run_weights
from sam_bench.threat_models import LINF
from sam_bench.training import method_table as table
from sam_bench.training import run_check
from sam_bench.version import __version__
from sam_bench.zoo import folders, orphans, same_weights
from sam_bench.zoo.entry import SCHEMA, ZooEntry
from sam_bench.zoo.ids import (
    ID_AUTHOR,
    ID_PATTERN,
    ROBUSTBENCH_ID_PREFIX,
    check_free,
    check_id,
    robustbench_ids,
    same_in_any_case,
)
from sam_bench.zoo.training_record import training_cost

log = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100")
FP16_ABOVE_BYTES = 2_000_000  # the project's rule: bigger weights are stored (and evaluated) as fp16
T = TypeVar("T")


def default_zoo_dir() -> Path:
    return Path(os.environ.get("SAM_BENCH_ZOO") or folders.PROJECT_ZOO)


def _zoo(zoo_dir) -> Path:
    return Path(zoo_dir) if zoo_dir is not None else default_zoo_dir()


def _value(x) -> str:
    return getattr(x, "value", x)  # accepts RobustBench's enums as well as strings


# ---------------------------------------------------------------- finding entries


def _json_paths(zoo: Path) -> list[Path]:
    return sorted(zoo.glob("*/*/*.json"))


def list_entries(dataset=None, threat_model=None, zoo_dir=None) -> list[ZooEntry]:
    """All entries, sorted by dataset, threat model and id."""
    dataset, threat_model = _value(dataset), _value(threat_model)
    entries = []
    for path in _json_paths(_zoo(zoo_dir)):
        if (dataset and path.parent.parent.name != dataset) or (threat_model and path.parent.name != threat_model):
            continue
        entries.append(ZooEntry.read(path))
    return entries


def _locate(model_id: str, zoo_dir=None) -> Path:
    """The entry file of `model_id`, in whatever dataset/threat-model folder it is."""
    zoo = _zoo(zoo_dir)
    hits = sorted(zoo.glob(f"*/*/{model_id}.json")) if ID_PATTERN.fullmatch(model_id) else []
    if not hits:
        cut_short = orphans.find(zoo, model_id) if ID_PATTERN.fullmatch(model_id) else []
        if cut_short:
            raise BadInput(f"no entry for model id {model_id!r}: {orphans.describe(cut_short[0])}")
        known = [p.stem for p in _json_paths(zoo)]
        close = difflib.get_close_matches(model_id, known, n=3)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else (f" ({len(known)} entries; see sam-bench zoo list)" if known else " (the zoo is empty)")
        )
        raise BadInput(f"unknown model id {model_id!r} in {zoo}{hint}")
    if len(hits) > 1:
        raise SamBenchError(f"model id {model_id!r} is in the zoo more than once: {', '.join(map(str, hits))}")
    return hits[0]


def entry_from_run(run_weights_sha256: str | None, zoo_dir=None) -> ZooEntry | None:
    """The zoo entry made from exactly the weights of a run (its `weights_sha256`), if there is one."""
    if not run_weights_sha256:
        return None
    return next((e for e in list_entries(zoo_dir=zoo_dir) if e.run_weights_sha256 == run_weights_sha256), None)


def find_entry(model_id: str, zoo_dir=None) -> ZooEntry:
    return ZooEntry.read(_locate(model_id, zoo_dir))


# ---------------------------------------------------------------- weights


def weights_file(entry: ZooEntry, zoo_dir=None) -> tuple[Path, str]:
    """(path of the weights, where they came from: tree | cache | git | url); not yet verified."""
    json_path = _locate(entry.id, zoo_dir)
    w = entry.weights
    try:
        return blobs.materialise(json_path.parent / w.file, w.sha256, w.git_blob, w.url)
    except SamBenchError as err:
        raise type(err)(f"zoo entry {json_path.name}: {err}") from None  # WeightsNotHere stays what it is


def load_state(entry: ZooEntry, zoo_dir=None) -> tuple[dict[str, torch.Tensor], Path]:
    """The entry's tensors as stored (fp32 or fp16), after checking the file's sha256."""
    path, _ = weights_file(entry, zoo_dir)
    if files.sha256_file(path) != entry.weights.sha256:
        raise SamBenchError(
            f"{path}: sha256 does not match zoo entry {entry.id} "
            "(file changed, truncated or damaged; restore it, e.g. with git checkout)"
        )
    state = files.load_safetensors(path)
    # stored in the precision the entry (and its board row) says: fp16 weights whose sha256 was written into a
    # float32 entry would pass the hash and be shown as float32
    declared = entry.weights.dtype
    stored = {str(t.dtype).removeprefix("torch.") for t in state.values() if t.is_floating_point()}
    if declared is not None and stored and stored != {declared}:
        raise SamBenchError(
            f"{path}: stored as {', '.join(sorted(stored))}, but zoo entry {entry.id} says {declared} "
            "(not the weights `zoo add` wrote for it; restore them or add the run again)"
        )
    return state, path


def _build(entry: ZooEntry, zoo_dir=None) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    arguments.check(entry.arch, f"zoo entry {entry.id}")  # before its weights are fetched or anything is built
    state, path = load_state(entry, zoo_dir)
    _check_normalization(entry, path)
    return build_model(entry.arch, state, str(path)), state


def _check_normalization(entry: ZooEntry, weights: Path) -> None:
    """The entry's declared normalization is the one its model was trained with (trained_normalization)."""
    trained_normalization.check(entry.arch, files.safetensors_header(weights), entry.dataset, f"zoo entry {entry.id}")


def load_model_with_info(model_id: str, zoo_dir=None) -> tuple[torch.nn.Module, ZooEntry]:
    """(model in eval mode on the CPU, its zoo entry) for an id from any dataset/threat model."""
    entry = find_entry(model_id, zoo_dir)
    return _build(entry, zoo_dir)[0], entry


def load_model(model_id: str, dataset="cifar10", threat_model=LINF, zoo_dir=None) -> torch.nn.Module:
    """A zoo model in eval mode on the CPU, with verified weights (fp16 copies are cast to fp32)."""
    dataset, threat_model = _value(dataset), _value(threat_model)
    entry = find_entry(model_id, zoo_dir)
    if (entry.dataset, entry.threat_model) != (dataset, threat_model):
        raise BadInput(f"{model_id} is a {entry.dataset}/{entry.threat_model} model, not {dataset}/{threat_model}")
    return _build(entry, zoo_dir)[0]


# ---------------------------------------------------------------- adding


def architecture_name(spec: dict) -> str:
    """RobustBench-style architecture text: 'PreActResNet-18', 'WideResNet-28-10 (width x0.25)', 'resnet18
    (torchvision)'."""
    arch = spec["arch"]
    given = spec.get("kwargs") or {}
    if arch.startswith("torchvision:"):
        return f"{arch[len('torchvision:') :]} (torchvision)"
    if arch.startswith("robustbench:"):  # robustbench:<dataset>/<threat model>/<id>
        return f"RobustBench's {arch.rsplit('/', 1)[-1]} network"
    if arch.startswith("class:"):  # class:<module>:<Class>, a network of its user's own code
        module, _, name = arch[len("class:") :].partition(":")
        return f"{name} ({', '.join([module, *(f'{k}={v}' for k, v in given.items())])})"
    if arch.startswith("timm:"):
        return arch[len("timm:") :] + (f" ({', '.join(f'{k}={v}' for k, v in given.items())})" if given else "")
    names = {"preactresnet18": "PreActResNet-18"}
    name = names.get(arch) or arch.replace("wideresnet", "WideResNet")
    width = spec.get("width", 1.0)
    return name if width == 1.0 else f"{name} (width x{width:g})"


def method_name(config: dict) -> str:
    method = config["method"]
    known = table.TABLE.get(method)
    text = known.display if known else method
    details = [f"{key}={config[key]:g}" for key in ("rho", "beta") if config.get(key) is not None]
    if config.get("awp_gamma") is not None:
        warmup = config.get("awp_warmup") or 0
        details.append(f"gamma={config['awp_gamma']:g}" + (f" after {warmup} epochs" if warmup else ""))
    if table.single_step(method):
        details.append(f"{config['attack_norm']} eps={config['attack_eps']}, step {config['attack_step_size']}")
    elif table.uses_attack(method):
        details.append(f"{config['attack_norm']} eps={config['attack_eps']}, {config['attack_steps']} steps")
    return f"{text} ({', '.join(details)})" if details else text


def suggest_id(metadata: dict, year: int | None = None) -> str:
    """e.g. SamBench2025SAM_PRN18-w0.125_rho0.05_sample, from the run's recipe."""
    cfg, spec = metadata["config"], metadata["arch"]
    year = year or datetime.date.today().year
    arch = spec["arch"]
    short = {"preactresnet18": "PRN18"}.get(arch) or re.sub(
        r"[^A-Za-z0-9.-]", "-", arch.replace("wideresnet", "WRN").replace("timm:", "")
    )
    if spec.get("width", 1.0) != 1.0:
        short += f"-w{spec['width']:g}"
    for key, value in (spec.get("kwargs") or {}).items():  # timm constructor arguments: patch_size=4 -> -patch_size4
        short += "-" + re.sub(r"[^A-Za-z0-9.]", "", f"{key}{value}".replace("_", ""))
    named = (("rho", "rho"), ("beta", "beta"), ("awp_gamma", "gamma"))
    parts = [short, *(f"{name}{cfg[key]:g}" for key, name in named if cfg.get(key) is not None)]
    if table.uses_attack(cfg["method"]):
        eps = cfg["attack_eps"]
        parts.append(f"{cfg['attack_norm']}-{eps[:-4] if eps.endswith('/255') else eps}")
    data = metadata["dataset"]
    if data["name"] != data["family"]:
        parts.append(data["name"].replace(data["family"], "").strip("-") or data["name"])
    if cfg.get("seed", 0) != 0:
        parts.append(f"s{cfg['seed']}")
    known = table.TABLE.get(cfg["method"])
    keyword = known.id_keyword if known else re.sub(r"[^A-Za-z0-9]", "", cfg["method"].title())
    return f"{ID_AUTHOR}{year}{keyword}_" + "_".join(parts)


def add(
    run_dir,
    model_id: str | None = None,
    threat_model: str | None = None,
    zoo_dir=None,
    precision: str = "auto",
    paper: dict | None = None,
    url: str | None = None,
) -> ZooEntry:
    """Copy a finished run into the zoo (see _add)."""
    return _locked(zoo_dir, lambda: _add(run_dir, model_id, threat_model, zoo_dir, precision, paper, url))


def _locked(zoo_dir, add: Callable[[], T]) -> T:
    """`add()` under the zoo's lock, so that concurrent writers (SLURM jobs of one grid) cannot take the same free id.
    RobustBench's ids, which an id must not take, are read first: their first reading in a process imports robustbench
    and timm (seconds), and inside the lock concurrent writers waited for each other's imports in turn."""
    robustbench_ids()  # imports what it needs once per process
    with files.locked(_zoo(zoo_dir)):
        entry = add()
    if zoo_dir is not None:
        folders.remember(zoo_dir)  # the zoo the user named last, where RobustBench's load_model looks
    return entry


def _add(run_dir, model_id: str | None, threat_model: str | None, zoo_dir, precision: str, paper, url) -> ZooEntry:
    """Copy a finished run into the zoo; returns the new entry, leaving nothing behind on failure (docs/zoo.md:
    `precision`, "Big weights"; `paper`: link / name / authors / venue for the leaderboard, defaults from the run)."""
    run_dir = Path(run_dir)
    if precision not in ("auto", "fp32", "fp16"):
        raise BadInput(f"unknown precision {precision!r}; choose auto, fp32 or fp16")
    if not (run_dir / "metadata.json").is_file():
        raise BadInput(f"{run_dir}: not a run directory (no metadata.json)")
    zoo = _zoo(zoo_dir)
    if zoo.exists() and not zoo.is_dir():
        raise BadInput(f"--zoo-dir {zoo}: a file, not a folder; give the zoo's folder (or a new one)")
    meta = read_metadata(run_dir)
    if meta.get("status") != "complete" or not meta.get("weights"):
        raise BadInput(
            f"{run_dir}: training has not finished, so there are no final weights to add "
            "(resume it with sam-bench train --resume)"
        )
    if not has_weights(run_dir):
        raise BadInput(f"{run_dir / meta['weights']}: weights file not found; the run directory has no weights to add")
    load_run(run_dir)  # checks the sha256 and that the weights fit the architecture (kept weights materialised)
    run_check.check_folder(run_dir, meta)  # what it states of its training, against its log and weights
    dataset = meta["dataset"]["family"]
    if dataset not in DATASETS:
        raise BadInput(f"{run_dir}: dataset family {dataset!r} has no RobustBench leaderboard")
    if threat_model is None:  # an adversarially trained model is ranked in the norm it was trained for
        threat_model = meta["config"].get("attack_norm", LINF) if table.uses_attack(meta["method"]) else LINF
    threat_model = _value(threat_model)
    threat_models.threat_model(threat_model)  # BadInput for a threat model no record has
    entries = [p.stem for p in _json_paths(zoo)]  # weights without an entry take no id: see orphans
    if model_id is None:
        model_id = suggest_id(meta)
        if same_in_any_case(model_id, entries):  # runs that differ only outside the id's recipe fields
            model_id += f"_{meta['weights_sha256'][:8]}"
    check_id(model_id)
    check_free(model_id, entries)
    orphans.clear(zoo, model_id)

    folder = zoo / dataset / threat_model
    source, _ = run_weights(run_dir, meta)
    data = source.read_bytes()
    if precision == "fp16" or (precision == "auto" and len(data) > FP16_ABOVE_BYTES):
        data = _to_fp16(source, model_id)
        dtype = "float16"
    else:
        dtype = "float32"
    _check_new_weights(folder, data, zoo)
    return _write_new(
        folder,
        model_id,
        meta["arch"],
        data,
        dtype,
        url,
        method=meta["method"],
        trained_on=meta["dataset"]["name"],
        training_cost=training_cost(meta),
        described=method_name(meta["config"]),
        paper=paper or {},
        added={"from_run": str(run_dir), "run_weights_sha256": meta.get("weights_sha256")},
        record={"training": meta},
    )


def _write_new(
    folder: Path,
    model_id: str,
    arch: dict,
    data: bytes,
    dtype: str,
    url,
    *,
    method: str,
    trained_on: str,
    training_cost: dict,
    described: str,
    paper: dict,
    added: dict,
    record: dict,
) -> ZooEntry:
    """A new entry of `folder` (<zoo>/<dataset>/<threat model>) and its weights `data`: the weights, then the entry,
    which must load before it is kept, so that on any failure neither is left. `described`: the training, after the
    architecture in the board's default name; `record`: `training` or `trained_elsewhere`."""
    name = architecture_name(arch)
    weights_path, json_path = folder / f"{model_id}.safetensors", folder / f"{model_id}.json"
    sha = hashlib.sha256(data).hexdigest()
    written = {
        "schema": SCHEMA,
        "id": model_id,
        "dataset": folder.parent.name,
        "threat_model": folder.name,
        "arch": arch,
        "architecture": name,
        "method": method,
        "trained_on": trained_on,
        "weights_sha256": sha,
        "weights": {
            "file": weights_path.name,
            "format": "safetensors",
            "dtype": dtype,
            "bytes": len(data),
            "sha256": sha,
            "git_blob": blobs.git_blob_id(data),
            "url": url,
        },
        "training_cost": training_cost,
        "paper": {"name": f"{name}, {described}", "link": "", "authors": "", "venue": "N/A"} | paper,
        "added": {
            **added,
            "sam_bench_version": __version__,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
        **record,
    }
    entry = ZooEntry.of(written, str(json_path), json_path)
    try:
        files.atomic_write(weights_path, lambda f: f.write(data))
        files.write_json(json_path, written)
        load_model(model_id, entry.dataset, entry.threat_model, zoo_dir=folder.parent.parent)
    except BaseException:
        for path in (json_path, weights_path):
            with contextlib.suppress(OSError):  # the error that brought us here is the one to tell
                path.unlink(missing_ok=True)
        raise
    return entry


def _check_new_weights(folder: Path, data: bytes, zoo_dir=None) -> None:
    """A leaderboard lists a model once: weights whose tensors an entry of its folder already holds are refused,
    naming it. Compared as tensors (same_weights), not as files: a weights file's header holds its entry's id."""
    sha = hashlib.sha256(data).hexdigest()
    held = []
    for path in sorted(folder.glob("*.json")):
        try:
            entry = ZooEntry.read(path)
        except SamBenchError:
            continue  # a damaged entry is verify's to report
        held.append((entry.id, entry.weights.sha256, functools.partial(_tensors_to_compare, entry, zoo_dir)))
    same = next((model_id for model_id, held_sha, _ in held if held_sha == sha), None)
    same = same or same_weights.holder(load(data), held)
    if same is not None:
        raise BadInput(
            f"zoo entry {same} ({folder.parent.name}/{folder.name}) already holds these weights (the same tensors): "
            f"a leaderboard lists a model once; use {same}"
        )


def _tensors_to_compare(entry: ZooEntry, zoo_dir=None) -> dict[str, torch.Tensor] | None:
    """An entry's checked tensors, or None with a warning where they cannot be had (a clone without the history)."""
    try:
        return load_state(entry, zoo_dir)[0]
    except SamBenchError as err:
        log.warning("new weights not compared with zoo entry %s's: %s", entry.id, err)
        return None


def _to_fp16(source: Path, model_id: str) -> bytes:
    state = files.load_safetensors(source)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    bad = [k for k, v in half.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise BadInput(f"{model_id}: {bad[0]} does not fit in fp16 (overflow); add it with --precision fp32")
    header = {**files.safetensors_header(source), "sam_bench_id": model_id}  # the run's normalization goes along
    return save({k: v.contiguous() for k, v in half.items()}, metadata=header)


def verify(model_id: str | None = None, zoo_dir=None) -> list[tuple[str, bool, str]]:
    """(id, ok, message) for one entry or all: each weights file against its entry's sha256."""
    paths = [_locate(model_id, zoo_dir)] if model_id else _json_paths(_zoo(zoo_dir))  # unknown id: bad input
    report = []
    for json_path in paths:
        mid = json_path.stem
        try:
            entry = ZooEntry.read(json_path)  # a damaged or edited entry fails its check, the others go on
            arguments.check(entry.arch, f"zoo entry {entry.id}")  # an argument that would load a file or run code
            path, source = weights_file(entry, zoo_dir)
            ok = files.sha256_file(path) == entry.weights.sha256
            if ok:
                _check_normalization(entry, path)  # an edited arch.std changes every number, not the sha256
            report.append((mid, ok, f"{path} ({source})" + ("" if ok else ": sha256 does not match the entry")))
        except SamBenchError as err:
            report.append((mid, False, str(err)))
    if not model_id:
        report += [(path.stem, False, orphans.describe(path)) for path in orphans.find(_zoo(zoo_dir))]
        report += [(path.name, False, orphans.describe_temporary(path)) for path in orphans.temporaries(_zoo(zoo_dir))]
    return report


# ---------------------------------------------------------------- RobustBench

_REGISTERED: dict[str, Path] = {}  # model id -> zoo dir it was registered from


def register_with_robustbench(zoo_dir=None) -> list[str]:
    """Make robustbench.utils.load_model (and so robustbench.eval) load our entries offline. `zoo_dir`: the zoo to
    register; without it, the user's zoos (sam_bench.zoo.folders), an id found twice registered from the first.
    Returns the registered ids. Entries that clash with an upstream RobustBench id are skipped."""
    import robustbench.utils as rb_utils
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    _install_download_bridge(rb_utils)
    _install_unknown_model_line(rb_utils)
    zoos = [Path(zoo_dir)] if zoo_dir is not None else folders.users_zoos()
    registered: list[str] = []
    for zoo in zoos:
        for path in _json_paths(zoo):
            try:
                entry = ZooEntry.read(path)
                board = model_dicts[BenchmarkDataset(entry.dataset)][ThreatModel(entry.threat_model)]
            except (SamBenchError, ValueError, KeyError) as err:
                log.warning("not registered with RobustBench: %s", err)
                continue
            mid = entry.id
            if mid in registered:
                log.warning("%s: in %s and in %s; registered from %s", mid, _REGISTERED[mid], zoo, _REGISTERED[mid])
                continue
            if mid in board and not str(board[mid].get("gdrive_id", "")).startswith(ROBUSTBENCH_ID_PREFIX):
                log.warning("%s: RobustBench already has a model with this id; ours is not registered", mid)
                continue
            board[mid] = {"model": functools.partial(_robustbench_model, mid), "gdrive_id": ROBUSTBENCH_ID_PREFIX + mid}
            _REGISTERED[mid] = zoo
            registered.append(mid)
    return registered


class UnknownModel(BadInput, KeyError):
    """RobustBench's `load_model` of an id neither RobustBench nor a zoo of the user's has: a KeyError, as
    RobustBench's own, that reads as its one line."""

    def __str__(self) -> str:
        return str(self.args[0])


def _install_unknown_model_line(rb_utils) -> None:
    """RobustBench's `load_model`, answering an id it does not know (after registering the user's zoos again) with
    one line saying where sam-bench looked and how to point it at the zoo, not a bare KeyError."""
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    original = rb_utils.load_model
    if getattr(original, "sam_bench_bridge", False):
        return

    def load_model(model_name, model_dir="./models", dataset="cifar10", threat_model="Linf", *args, **kwargs):
        try:
            tm = ThreatModel(ThreatModel(threat_model).value.replace("_3d", ""))  # as RobustBench reads it
            board = model_dicts[BenchmarkDataset(dataset)][tm]
        except (ValueError, KeyError):
            board = {model_name: None}  # RobustBench's own answer for what it does not know
        if model_name not in board:
            register_with_robustbench()  # an entry added since
        if model_name in _REGISTERED and board.get(model_name) is not None:
            _check_plain_checkpoint(Path(model_dir) / _value(dataset) / tm.value / f"{model_name}.pt", model_name)
        try:
            return original(model_name, model_dir, dataset, threat_model, *args, **kwargs)
        except KeyError as err:
            if model_name in board or err.args != (model_name,):
                raise
            looked = ", ".join(str(z) for z in folders.users_zoos()) or "no zoo folder"
            raise UnknownModel(
                f"{model_name!r} is neither RobustBench's nor in a sam-bench zoo for {_value(dataset)}/"
                f"{_value(threat_model)} (looked in: {looked}); {folders.HOW_TO_POINT}"
            ) from None

    load_model.sam_bench_bridge = True  # type: ignore[attr-defined]  # mypy: no attributes on functions
    load_model.__doc__ = original.__doc__
    rb_utils.load_model = load_model
    import robustbench

    if getattr(robustbench, "load_model", None) is original:
        robustbench.load_model = load_model


def _robustbench_model(model_id: str) -> torch.nn.Module:
    """RobustBench's constructor for our entry: the verified model, which then accepts from the
    .pt that RobustBench reads nothing but exactly these tensors."""
    model, state = _build(find_entry(model_id, _REGISTERED[model_id]), _REGISTERED[model_id])
    bad = [k for k in state if "module." in k or "model." in k]
    if bad:  # RobustBench's loader cuts 'module.' and 'model.' out of key names
        raise SamBenchError(
            f"{model_id}: parameter {bad[0]!r} cannot pass through RobustBench's loader, "
            "which strips 'module.'/'model.' from names; use sam_bench.load_model"
        )
    expected = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}

    def check(module, state_dict, prefix, *args):
        handle.remove()
        same = state_dict.keys() == expected.keys() and all(
            torch.equal(state_dict[k].to(expected[k].dtype), expected[k]) for k in expected
        )
        if not same:
            raise SamBenchError(
                f"{model_id}: the {model_id}.pt file in RobustBench's model_dir does not hold "
                "the zoo's verified weights (stale or edited copy); delete it and load again"
            )

    handle = model.register_load_state_dict_pre_hook(check)
    return model


def _check_plain_checkpoint(path: Path, model_id: str) -> None:
    """The `.pt` RobustBench will read for one of our ids holds tensors alone: read here with weights_only=True,
    whatever torch's default or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says, before RobustBench's own torch.load."""
    if not path.is_file():
        return  # RobustBench's download step writes it from the zoo (_install_download_bridge)
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises UnpicklingError, RuntimeError, ... for what is not tensors alone
        raise SamBenchError(
            f"{model_id}: {path} in RobustBench's model_dir is not a plain state dict of tensors (it pickles Python "
            "objects, which sam-bench never lets anything unpickle); delete it and load again"
        ) from None


def _install_download_bridge(rb_utils) -> None:
    # load_model calls the module-level download_gdrive_new when <model_dir>/.../<id>.pt is
    # missing; for our ids we write that file from the zoo instead of downloading anything.
    original = rb_utils.download_gdrive_new
    if getattr(original, "sam_bench_bridge", False):
        return

    def download(gdrive_id, fname_save):
        if not (isinstance(gdrive_id, str) and gdrive_id.startswith(ROBUSTBENCH_ID_PREFIX)):
            return original(gdrive_id, fname_save)
        model_id = gdrive_id[len(ROBUSTBENCH_ID_PREFIX) :]  # a plain state_dict of the verified tensors
        _, state = _build(find_entry(model_id, _REGISTERED[model_id]), _REGISTERED[model_id])
        files.torch_save(fname_save, {k: v.float() if v.is_floating_point() else v for k, v in state.items()})

    download.sam_bench_bridge = True  # type: ignore[attr-defined]  # mypy: no attributes on functions
    rb_utils.download_gdrive_new = download
