"""Any timm model as `timm:<name>`, adapted to 32x32 inputs (docs/training.md lists the adaptations per family; each
tested in tests/test_timm_models.py), randomly initialised (no hub here). timm's own constructor arguments pass
through (`kwargs`) and are kept in the model's spec, so a run or zoo entry rebuilds the same network."""

import torch.nn as nn

from sam_bench.errors import BadInput
from sam_bench.models.normalization import NormalizedNet

VIT_MODULES = ("timm.models.vision_transformer", "timm.models.deit")
CIFAR_PATCH = 4


def family(name: str) -> str:
    """The timm module that defines the model, e.g. 'timm.models.convnext'."""
    from timm.models import model_entrypoint

    return model_entrypoint(name).__module__


def create_timm_model(
    name: str, num_classes: int, mean, std, width: float = 1.0, kwargs: dict | None = None, cifar_adapted: bool = True
) -> nn.Module:
    import timm

    if not timm.is_model(name):
        raise BadInput(f"unknown timm model {name!r} (see timm.list_models())")
    if width != 1.0:
        raise BadInput(
            "--width applies to the built-in architectures only, not to timm models "
            "(pass timm's own size arguments with --arch-kwargs, e.g. embed_dim=96)"
        )
    kwargs = dict(kwargs or {})
    if cifar_adapted and family(name) in VIT_MODULES:
        kwargs.setdefault("patch_size", CIFAR_PATCH)  # 8x8 = 64 tokens, not 2x2 of 16 pixels
    try:
        try:
            size = {"img_size": 32} if cifar_adapted else {}
            net = timm.create_model(name, pretrained=False, num_classes=num_classes, **size, **kwargs)
        except TypeError as err:
            if not cifar_adapted or "img_size" not in str(err):
                raise
            net = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)  # convolutional
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        given = ", ".join(f"{k}={v}" for k, v in kwargs.items()) if cifar_adapted else kwargs
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]  # torch lists every overload after it
        raise BadInput(f"timm model {name!r} cannot be built with {given or 'no arguments'}: {first}") from None
    if cifar_adapted:
        _adapt_stems(net, name)
    return NormalizedNet(net, mean, std)


def _adapt_stems(net: nn.Module, name: str) -> None:
    """Stems that keep 32x32 inputs from shrinking to nothing before the first stage."""
    conv1 = getattr(net, "conv1", None)  # ResNet-style: stride 1, no max-pooling
    if isinstance(conv1, nn.Conv2d) and conv1.stride != (1, 1):
        net.conv1 = nn.Conv2d(conv1.in_channels, conv1.out_channels, 3, 1, 1, bias=conv1.bias is not None)
    elif isinstance(conv1, nn.Sequential):  # 'deep' stems (resnet-d, resnet10t): stride 1 at the first conv
        first = next(m for m in conv1.modules() if isinstance(m, nn.Conv2d))
        first.stride = (1, 1)
    if isinstance(getattr(net, "maxpool", None), nn.MaxPool2d):
        net.maxpool = nn.Identity()
    stem = getattr(net, "stem", None)  # ConvNeXt's 4x4 stride-4 stem: 2x2 stride 2 (32x32 -> 16x16)
    if family(name) == "timm.models.convnext" and isinstance(stem, nn.Sequential):
        conv = stem[0]
        if isinstance(conv, nn.Conv2d) and conv.stride == (4, 4):
            stem[0] = nn.Conv2d(conv.in_channels, conv.out_channels, 2, 2, bias=conv.bias is not None)
    conv_stem = getattr(net, "conv_stem", None)  # MobileNet / EfficientNet: stride 1, ending at 2x2 rather than 1x1
    if isinstance(conv_stem, nn.Conv2d) and conv_stem.stride == (2, 2):
        conv_stem.stride = (1, 1)
