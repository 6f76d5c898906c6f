"""The constructor arguments a model may be built with: the architecture's own parameters and plain data, never
a way to load a file or run code (a spec's `kwargs` come from files anyone can write, and timm's builders take
`checkpoint_path`, `pretrained_cfg`, ...). docs/zoo.md, "A zoo entry is data, never code", gives the rule.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import math
import re

import torch.nn as nn

from sam_bench.errors import BadInput

TIMM = "timm:"
OWN_CLASS = "class:"  # a network of the user's own code: class:<module>:<Class> (sam_bench.models.own_class)
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a value that names something: no '/', '.', ':' or '\', so no path or url
MOST_ITEMS = 64  # a list or mapping of arguments: sizes of stages, not data
DEEPEST = 3  # lists of lists (a stage's blocks), mappings of a block's arguments


def check(spec: dict, where: str | None = None) -> None:
    """Refuse, in one line, a spec whose constructor arguments are not all the architecture's own and plain data
    (`where`: what holds the spec, named first, e.g. "zoo entry <id>")."""
    try:
        _check(spec)
    except BadInput as err:
        if where is None:
            raise
        raise BadInput(f"{where}: {err}") from None


def _check(spec: dict) -> None:
    arch = spec["arch"]
    given = spec.get("kwargs") or {}
    if not isinstance(given, dict):
        raise BadInput(f"{arch}: its constructor arguments (kwargs) are a mapping of names to values, not {given!r}")
    if "cifar_adapted" in spec and not isinstance(spec["cifar_adapted"], bool):
        raise BadInput(f"{arch}: cifar_adapted is true or false, not {spec['cifar_adapted']!r}")
    takes: frozenset[str] = frozenset()
    if arch.startswith(TIMM):
        name = arch[len(TIMM) :]
        check_timm_name(name)
        if given:
            takes = timm_arguments(name)
        whose = f"timm's {name}"
    elif arch.startswith(OWN_CLASS) and given:
        from sam_bench.models import own_class

        takes = class_arguments(own_class.resolve(arch))
        whose = arch
    elif given:
        raise BadInput(
            f"{arch} takes no constructor arguments (kwargs: {', '.join(map(str, given))}); "
            "only timm: and class: architectures do"
        )
    for key, value in given.items():
        if key not in takes:
            close = difflib.get_close_matches(str(key), sorted(takes), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise BadInput(
                f"{arch}: {key!r} is not an argument {whose} takes (a model is built from its architecture's own "
                f"arguments; its weights come only from its zoo entry's checked file){hint}"
            )
        check_value(arch, key, value)


def check_value(arch: str, key: str, value, depth: int = 0) -> None:
    """A number, true/false, null, a name, or a list or mapping of those; one line naming the argument otherwise."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"{arch}: {key}={value} is not a finite number")
        return
    if isinstance(value, str):
        if not NAME.fullmatch(value):
            raise BadInput(
                f"{arch}: {key}={value!r} is not a plain name (letters, digits, _ and -): an argument's value is a "
                "number, true/false, a name, or a list of them, never a path, file or url"
            )
        return
    if isinstance(value, list | tuple | dict) and depth < DEEPEST and len(value) <= MOST_ITEMS:
        if isinstance(value, dict):
            for inner_key, inner in value.items():
                if not isinstance(inner_key, str) or not NAME.fullmatch(inner_key):
                    raise BadInput(f"{arch}: {key} holds the key {inner_key!r}, which is not a plain name")
                check_value(arch, f"{key}.{inner_key}", inner, depth + 1)
        else:
            for inner in value:
                check_value(arch, key, inner, depth + 1)
        return
    raise BadInput(
        f"{arch}: {key}={value!r} is not plain data (a number, true/false, a name, or a list or mapping of at most "
        f"{MOST_ITEMS} of them, {DEEPEST} deep)"
    )


def check_timm_name(name: str) -> None:
    """A model timm registers, by its bare name: no `hf-hub:` source (fetched) and no pretrained tag."""
    import timm

    if name not in _timm_names():
        known = timm.is_model(name)
        why = "write the architecture's name without a pretrained tag" if known else "see timm.list_models()"
        raise BadInput(f"unknown timm model {name!r} ({why})")


@functools.cache
def _timm_names() -> frozenset[str]:
    import timm

    return frozenset(timm.list_models())


def builders_arguments() -> frozenset[str]:
    """The parameters of timm's `create_model` and `build_model_with_cfg`: how a model is looked up, loaded and
    wrapped (a checkpoint, pretrained weights and their config, features, scripting), never its shape."""
    from timm.models import create_model
    from timm.models._builder import build_model_with_cfg

    names = set()
    for function in (create_model, build_model_with_cfg):
        names |= {p.name for p in inspect.signature(function).parameters.values() if p.kind is not p.VAR_KEYWORD}
    return frozenset(names)


SET_BY_SPEC = frozenset({"num_classes"})  # the spec's own field


@functools.cache
def timm_arguments(name: str) -> frozenset[str]:
    """The arguments `timm:<name>` may take: the parameters of the classifier classes of the timm module that
    defines it, less the builders' and the spec's own."""
    from timm.models import model_entrypoint

    module = importlib.import_module(model_entrypoint(name).__module__)
    takes: set[str] = set()
    for member in vars(module).values():
        if isinstance(member, type) and issubclass(member, nn.Module):
            params = class_arguments(member, allow_unreadable=True)
            if "num_classes" in params:
                takes |= params
    return frozenset(takes - builders_arguments() - SET_BY_SPEC)


def class_arguments(cls: type, allow_unreadable: bool = False) -> frozenset[str]:
    """The named parameters of a network class's constructor and of its network base classes' (a subclass that
    passes `**kwargs` on takes its bases' too)."""
    names: set[str] = set()
    for base in cls.__mro__:
        if base in (nn.Module, object) or "__init__" not in vars(base):
            continue
        try:
            params = inspect.signature(vars(base)["__init__"]).parameters.values()
        except (TypeError, ValueError):  # a constructor written in C: nothing to read
            if allow_unreadable:
                continue
            raise BadInput(f"{cls.__qualname__}: its constructor's parameters cannot be read") from None
        names |= {p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return frozenset(names)
