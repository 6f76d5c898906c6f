"""The simulation's parameters: the shipped defaults (default.yaml) with a user's YAML over them, every
key and type checked before anything runs."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from sam_bench.errors import BadInput

DEFAULT_SPEC = Path(__file__).with_name("default.yaml")
NORMS = ("Linf", "L2")


def default_spec() -> dict:
    return yaml.safe_load(DEFAULT_SPEC.read_text())


def load_spec(path: str | Path | None = None) -> dict:
    """The defaults, overridden by the YAML file at `path` (any subset of the default keys)."""
    spec = default_spec()
    if path is None:
        return check_spec(spec, where=DEFAULT_SPEC.name)
    path = Path(path)
    try:
        given = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: cannot read it ({err})") from None
    except yaml.YAMLError as err:
        raise BadInput(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if given is None:  # an empty file: the defaults
        return check_spec(spec, where=DEFAULT_SPEC.name)
    if not isinstance(given, dict):
        raise BadInput(f"{path}: a theory spec is a YAML mapping (keys as in {DEFAULT_SPEC.name})")
    return check_spec(_merge(spec, given, where=str(path)), where=str(path))


def _merge(base: dict, given: dict, where: str) -> dict:
    """`given` over `base`, refusing keys the defaults do not have (a typo must not pass silently)."""
    out = copy.deepcopy(base)
    for key, value in given.items():
        if key not in base:
            raise BadInput(f"{where}: unknown key {key!r} (known: {', '.join(base)})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise BadInput(f"{where}: {key!r} must be a mapping")
            out[key] = _merge(base[key], value, where=f"{where}: {key}")
        else:
            out[key] = value
    return out


def _number(value, name: str, where: str, *, integer=False, positive=False, minimum=None) -> float:
    ok_types = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise BadInput(f"{where}: {name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if positive and not value > 0:
        raise BadInput(f"{where}: {name} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise BadInput(f"{where}: {name} must be >= {minimum}, got {value!r}")
    return value


def check_spec(spec: dict, where: str = "spec") -> dict:
    """Every value of the right type and range; strength lists sorted. Returns the spec."""
    _number(spec["seed"], "seed", where, integer=True, minimum=0)
    _number(spec["repetitions"], "repetitions", where, integer=True, positive=True)
    data = spec["data"]
    for group in ("robust", "non_robust"):
        _number(data[group]["count"], f"data.{group}.count", where, integer=True, positive=True)
        _number(data[group]["mean"], f"data.{group}.mean", where, positive=True)
        _number(data[group]["std"], f"data.{group}.std", where, positive=True)
    for key in ("n_train", "n_test"):
        _number(data[key], f"data.{key}", where, integer=True, positive=True)
    training = spec["training"]
    for key in ("epochs", "batch_size"):
        _number(training[key], f"training.{key}", where, integer=True, positive=True)
    _number(training["lr"], "training.lr", where, positive=True)
    _number(training["weight_decay"], "training.weight_decay", where, minimum=0)
    if training["schedule"] not in ("piecewise", "constant"):
        raise BadInput(f"{where}: training.schedule must be piecewise or constant, got {training['schedule']!r}")
    if training["batch_size"] > data["n_train"]:
        raise BadInput(
            f"{where}: training.batch_size ({training['batch_size']}) exceeds data.n_train ({data['n_train']})"
        )
    methods = spec["methods"]
    for key in ("sam_rho", "at_linf_eps", "at_l2_eps"):
        value, name = methods[key], f"methods.{key}"
        if not isinstance(value, list) or not value:
            raise BadInput(f"{where}: {name} must be a non-empty list of numbers > 0, e.g. [0.05, 0.1]")
        for v in value:
            _number(v, f"each of {name}", where, positive=True)
        if len(set(value)) != len(value):
            raise BadInput(f"{where}: {name} repeats a value")
        methods[key] = [float(v) for v in sorted(value)]
    evaluation = spec["evaluation"]
    attacks = evaluation["attacks"]
    if not isinstance(attacks, list) or not attacks:
        raise BadInput(f"{where}: evaluation.attacks must be a non-empty list of {{norm: Linf|L2, eps: number}}")
    for attack in attacks:
        if not isinstance(attack, dict) or set(attack) != {"norm", "eps"}:
            raise BadInput(
                f"{where}: each of evaluation.attacks must be {{norm: Linf|L2, eps: number}}, got {attack!r}"
            )
        if attack["norm"] not in NORMS:
            raise BadInput(f"{where}: an attack's norm must be Linf or L2, got {attack['norm']!r}")
        _number(attack["eps"], "an attack's eps", where, positive=True)
    _number(evaluation["tolerance"], "evaluation.tolerance", where, positive=True)
    return spec


def available_memory() -> int | None:
    """Bytes this machine can still give (Linux's MemAvailable), or None where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(spec: dict, where: str) -> None:
    """Refuse, before any array is made, a spec whose samples cannot fit (10^8 features: 50 TB),
    instead of a MemoryError part-way through."""
    data = spec["data"]
    dim = data["robust"]["count"] + data["non_robust"]["count"]
    # the largest arrays at once, in float64: a training sample and its signed copy, the test sample, its noise
    # and its attacked copy (features.sample, training.train, features.monte_carlo_accuracy)
    needed = 8 * dim * (2 * data["n_train"] + 3 * data["n_test"])
    available = available_memory()
    if available is not None and needed > available:
        raise BadInput(
            f"{where}: {dim:,} features x ({data['n_train']:,} training + {data['n_test']:,} test examples) "
            f"need about {needed / 2**30:,.1f} GiB of memory, {available / 2**30:,.1f} GiB are available; "
            "use fewer features (data.*.count) or examples (data.n_train, data.n_test)"
        )
