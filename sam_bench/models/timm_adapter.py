"""Any timm model as `timm:<name>`, adapted to 32x32 inputs, randomly initialised (no hub here).

Adaptation, the usual CIFAR recipe: models that take `img_size` (ViT, Swin, ...) get
img_size=32; ResNet-style stems (a 7x7 stride-2 `conv1`, or a deep stem, and a `maxpool`) get a stride-1
first conv (3x3 for the 7x7) and no pooling, so a 32x32 image is not shrunk to 8x8 before the first stage.
"""
import torch.nn as nn

from ..errors import BadInput
from .normalization import InputNormalization


class TimmClassifier(nn.Module):
    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.normalize = InputNormalization(mean, std)
        self.net = net  # not `model`/`module`: RobustBench's loader strips those from keys

    def forward(self, x):
        return self.net(self.normalize(x))


def create_timm_model(name: str, num_classes: int, mean, std, width: float = 1.0) -> nn.Module:
    import timm

    if not timm.is_model(name):
        raise BadInput(f"unknown timm model {name!r} (see timm.list_models())")
    if width != 1.0:
        raise BadInput("--width applies to the built-in architectures only, not to timm models")
    try:
        net = timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=32)
    except TypeError:  # convolutional models take no img_size
        net = timm.create_model(name, pretrained=False, num_classes=num_classes)
        _adapt_resnet_stem(net)
    return TimmClassifier(net, mean, std)


def _adapt_resnet_stem(net: nn.Module) -> None:
    conv1 = getattr(net, "conv1", None)
    if isinstance(conv1, nn.Conv2d) and conv1.stride != (1, 1):
        net.conv1 = nn.Conv2d(conv1.in_channels, conv1.out_channels, 3, 1, 1, bias=conv1.bias is not None)
    elif isinstance(conv1, nn.Sequential):  # 'deep' stems (resnet-d, resnet10t): stride 1 at the first conv
        first = next(m for m in conv1.modules() if isinstance(m, nn.Conv2d))
        first.stride = (1, 1)
    if isinstance(getattr(net, "maxpool", None), nn.MaxPool2d):
        net.maxpool = nn.Identity()
