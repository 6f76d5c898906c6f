"""Model registry in the way of timm (`register_model`, `create_model`, `list_models`); a model is rebuilt from
its spec, a plain dict: {"arch", "num_classes", "mean", "std", "width"} and, for `timm:` and `class:` architectures,
"kwargs" held to models.arguments' allow-list (README.md: why models normalize inside).
"""

from __future__ import annotations

import torch.nn as nn
import yaml

from sam_bench.errors import BadInput
from sam_bench.models import arguments, size
from sam_bench.models.registry import _REGISTRY, list_models, register_model  # noqa: F401  (the public calls)


def _split_top_level(text: str) -> list[str]:
    """Split at the commas that are not inside [...] or {...}: 'dims=[16,32],depth=2' -> two items."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def parse_kwargs(text: str | None) -> dict | None:
    """'depth=6,embed_dim=96,qkv_bias=false' -> {"depth": 6, "embed_dim": 96, "qkv_bias": False}: timm
    constructor arguments from the command line, each value read as YAML (numbers, booleans, strings,
    lists such as dims=[16,32,64,128])."""
    if not text:
        return None

    out = {}
    for item in _split_top_level(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip() or value.startswith("="):
            raise BadInput(f"{item!r} is not KEY=VALUE (e.g. depth=6,embed_dim=96)")
        try:
            out[key.strip()] = yaml.safe_load(value.strip())
        except Exception:  # YAMLError, and TypeError from some tags
            raise BadInput(f"{item!r}: cannot read the value; write it as YAML, e.g. depth=6 or dims=[16,32]") from None
    return out


FOREIGN = ("timm:", "torchvision:", "robustbench:", "class:")  # other code's networks, named by prefix
TAKES_ARGUMENTS = ("timm:", "class:")  # the architectures built with constructor arguments (models.arguments)


def make_spec(arch: str, num_classes: int, mean, std, width: float = 1.0, kwargs: dict | None = None) -> dict:
    if arch not in _REGISTRY and not arch.startswith(FOREIGN):
        raise BadInput(f"unknown architecture {arch!r}; choose one of {', '.join(list_models())}")
    if not width > 0:
        raise BadInput(f"--width must be > 0, got {width}")
    if kwargs and not arch.startswith(TAKES_ARGUMENTS):
        raise BadInput(f"--arch-kwargs passes timm's constructor arguments; {arch} takes --width only")
    spec = {
        "arch": arch,
        "num_classes": int(num_classes),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "width": float(width),
    }
    if kwargs:  # only when given: specs of models without them stay as they always were
        spec["kwargs"] = dict(kwargs)
        arguments.check(spec)  # before anything is read or built: the architecture's own arguments, plain data
    return spec


def create_model(spec: dict) -> nn.Module:
    """Build a freshly initialised model from its spec, its constructor arguments checked first (models.arguments:
    the architecture's own, plain data: no path, loader or url reaches a constructor)."""
    arguments.check(spec)
    arch, width = spec["arch"], spec.get("width", 1.0)
    common = dict(num_classes=spec["num_classes"], mean=spec["mean"], std=spec["std"], width=width)
    if arch.startswith("torchvision:"):
        from sam_bench.models.torchvision_adapter import create_torchvision_model

        return create_torchvision_model(arch[len("torchvision:") :], **common)
    if arch.startswith("robustbench:"):
        from sam_bench.models.robustbench_adapter import create_robustbench_model

        return create_robustbench_model(arch, **common)
    if arch.startswith("class:"):
        from sam_bench.models.own_class import create_own_model

        return create_own_model(arch, kwargs=spec.get("kwargs"), **common)
    if arch.startswith("timm:"):
        from sam_bench.models.timm_adapter import create_timm_model

        adapted = spec.get("cifar_adapted", True)
        return create_timm_model(arch[len("timm:") :], kwargs=spec.get("kwargs"), cifar_adapted=adapted, **common)
    if arch not in _REGISTRY:
        raise BadInput(f"unknown architecture {arch!r}; choose one of {', '.join(list_models())}")
    what = f"{arch} at width {width:g}"
    size.check_fits(what, lambda: _REGISTRY[arch](**common))
    try:
        return _REGISTRY[arch](**common)
    except (RuntimeError, MemoryError) as err:
        refusal = size.out_of_memory(what, err)
        if refusal is None:
            raise
        raise refusal from None


from sam_bench.models import preact_resnet, wide_resnet  # noqa: E402,F401  (fill the registry)
