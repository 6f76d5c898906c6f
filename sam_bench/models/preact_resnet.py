"""PreActResNet-18 (He et al. 2016) as used by the SAM-AT paper and RobustBench.

The paper's (Rice et al.'s) variant: the 1x1 shortcut takes the pre-activated input and a
BatchNorm+ReLU precede the classifier. Parameter names and function equal RobustBench's
`PreActResNet(PreActBlock, [2, 2, 2, 2], bn_before_fc=True, out_shortcut=True)`, so weights move
both ways (for width 1.0). `width` scales every stage (0.25 -> 16/32/64/128 channels) for CPU runs.
"""

import torch.nn as nn
import torch.nn.functional as F

from sam_bench.models.normalization import InputNormalization
from sam_bench.models.registry import register_model


class PreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, num_blocks, num_classes, mean, std, width=1.0):
        super().__init__()
        widths = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        self.normalize = InputNormalization(mean, std)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        in_planes, layers = widths[0], []
        for i, (planes, n) in enumerate(zip(widths, num_blocks)):
            blocks = []
            for stride in [1 if i == 0 else 2] + [1] * (n - 1):
                blocks.append(PreActBlock(in_planes, planes, stride))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.bn = nn.BatchNorm2d(widths[3])  # RobustBench's bn_before_fc=True variant names it `bn`
        self.linear = nn.Linear(widths[3], num_classes)

    def forward(self, x):
        out = self.conv1(self.normalize(x))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


@register_model("preactresnet18")
def preactresnet18(num_classes, mean, std, width=1.0):
    return PreActResNet([2, 2, 2, 2], num_classes, mean, std, width)
