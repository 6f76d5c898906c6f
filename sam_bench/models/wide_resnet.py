"""WideResNet (Zagoruyko & Komodakis 2016), pre-activation, as in TRADES and RobustBench.

Parameter names match robustbench.model_zoo.architectures.wide_resnet.WideResNet, so weights move
both ways for the same depth and widen factor (and width 1.0).
"""

from functools import partial

import torch.nn as nn
import torch.nn.functional as F

from sam_bench.models.normalization import InputNormalization
from sam_bench.models.registry import register_model


class WideBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.equal_in_out = in_planes == planes
        if not self.equal_in_out:
            self.convShortcut = nn.Conv2d(in_planes, planes, 1, stride, 0, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        # Same shortcut as TRADES/RobustBench: identity of the raw input, or a 1x1 conv of the
        # pre-activated input when the shape changes.
        return out + (x if self.equal_in_out else self.convShortcut(pre))


class WideStage(nn.Module):
    def __init__(self, n, in_planes, planes, stride):
        super().__init__()
        self.layer = nn.Sequential(
            *[WideBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1) for i in range(n)]
        )

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, widen_factor, num_classes, mean, std, width=1.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError("WideResNet depth must be 6n+4")
        n = (depth - 4) // 6
        ch = [max(1, round(c * width)) for c in (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)]
        self.normalize = InputNormalization(mean, std)
        self.conv1 = nn.Conv2d(3, ch[0], 3, 1, 1, bias=False)
        self.block1 = WideStage(n, ch[0], ch[1], 1)
        self.block2 = WideStage(n, ch[1], ch[2], 2)
        self.block3 = WideStage(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.fc = nn.Linear(ch[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(self.normalize(x)))))
        out = F.relu(self.bn1(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


for depth, widen_factor in ((28, 10), (16, 4)):
    register_model(f"wideresnet-{depth}-{widen_factor}")(partial(WideResNet, depth, widen_factor))
