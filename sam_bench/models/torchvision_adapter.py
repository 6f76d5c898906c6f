"""Any torchvision classification model as `torchvision:<name>` (e.g. `torchvision:resnet18`), randomly
initialised with the spec's number of classes and kept exactly as torchvision defines it (no CIFAR
adaptation: weights trained with torchvision's own network must fit it as they are)."""

from __future__ import annotations

import torch.nn as nn

from sam_bench import compat
from sam_bench.errors import BadInput
from sam_bench.models.normalization import NormalizedNet

PREFIX = "torchvision:"


def create_torchvision_model(name: str, num_classes: int, mean, std, width: float = 1.0) -> nn.Module:
    compat.ensure_torchvision()
    import torchvision.models

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise BadInput(f"unknown torchvision model {name!r} (see torchvision.models.list_models())")
    if width != 1.0:
        raise BadInput("--width applies to the built-in architectures only, not to torchvision models")
    return NormalizedNet(torchvision.models.get_model(name, weights=None, num_classes=num_classes), mean, std)
