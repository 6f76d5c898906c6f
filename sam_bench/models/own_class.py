"""A network of its user's own code, as `class:<module>:<Class>` with the JSON arguments it is built with (the
spec's `kwargs`), behind the spec's normalization as `net`. Building one runs the module's code and an entry is data
anyone can edit, so only modules the user named are imported (`SAM_BENCH_MODULES`, `trust`; docs/zoo.md)."""

from __future__ import annotations

import importlib
import json
import os

import torch.nn as nn

from sam_bench.errors import BadInput
from sam_bench.models.normalization import NormalizedNet

PREFIX = "class:"
TRUSTED_ENV = "SAM_BENCH_MODULES"
_TRUSTED: set[str] = set()  # modules this process's own code named (trust)


def trust(module: str) -> None:
    """Let sam-bench import `module` to build the zoo entries whose class is defined there."""
    _TRUSTED.add(module)


def arch_name(cls) -> str:
    """`class:<module>:<Class>` of a network class that others can import by that name; one line for a class that
    no import can reach (defined in a script run as __main__, or inside a function)."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise BadInput(f"{cls!r} is not a network class (a subclass of torch.nn.Module)")
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__":
        raise BadInput(
            f"{qualname} is defined in the script being run (__main__), which no later program can import: "
            "move it into a module of its own (e.g. mynets.py) and import it from there"
        )
    if "<locals>" in qualname:
        raise BadInput(f"{qualname} is defined inside a function, where no import can reach it: define it in a module")
    return f"{PREFIX}{module}:{qualname}"


def resolve(arch: str) -> type:
    """The class `arch` names, from a module its user named (`trust`, SAM_BENCH_MODULES); one line otherwise."""
    module_name, sep, qualname = arch[len(PREFIX) :].partition(":")
    if not (sep and module_name and qualname):
        raise BadInput(
            f"{arch!r}: write a network of your own code as class:<module>:<Class>, e.g. class:mynets:SmallCNN"
        )
    named = {m.strip() for m in os.environ.get(TRUSTED_ENV, "").split(",") if m.strip()}
    if module_name not in named | _TRUSTED:
        raise BadInput(
            f"{arch} is built by code of module {module_name}, which sam-bench imports only when you name it: "
            f"{TRUSTED_ENV}={module_name} (or sam_bench.models.own_class.trust({module_name!r}) in Python)"
        )
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as err:
        raise BadInput(f"{arch}: module {module_name} cannot be imported ({err}); is it on the Python path?") from None
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise BadInput(f"{arch}: module {module_name} has no {qualname}")
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise BadInput(f"{arch}: {qualname} is not a network class (a subclass of torch.nn.Module)")
    return found


def json_arguments(kwargs: dict | None, arch: str) -> dict:
    """The constructor arguments as JSON keeps them: a value JSON would change (a tuple, a set, an object) is
    refused, so that the entry rebuilds the network it was given."""
    given = dict(kwargs or {})
    try:
        kept = json.loads(json.dumps(given))
    except (TypeError, ValueError):
        raise BadInput(f"{arch}: its arguments {given!r} are not JSON (numbers, true/false, names, lists)") from None
    if kept != given:
        changed = next(k for k in given if kept.get(k) != given[k])
        raise BadInput(
            f"{arch}: argument {changed}={given[changed]!r} does not survive JSON; give it as a list or number"
        )
    return kept


def create_own_model(
    arch: str, num_classes: int, mean, std, width: float = 1.0, kwargs: dict | None = None
) -> nn.Module:
    if width != 1.0:
        raise BadInput(
            "--width applies to the built-in architectures only; give a class of your own its size in kwargs"
        )
    cls = resolve(arch)
    try:
        net = cls(**(kwargs or {}))
    except (TypeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BadInput(f"{arch} cannot be built with {kwargs or 'no arguments'}: {first}") from None
    return NormalizedNet(net, mean, std)
