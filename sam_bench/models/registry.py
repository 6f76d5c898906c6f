"""The architectures' registry: name -> constructor (`register_model`, `list_models`), a module of its
own so that each architecture's module registers itself without importing the package that lists them."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    def wrap(fn):
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY) + ["timm:<name>"]
