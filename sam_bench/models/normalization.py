import torch
import torch.nn as nn


class InputNormalization(nn.Module):
    """(x - mean) / std per channel. Buffers are not persistent: the state_dict stays exactly
    the architecture's own (RobustBench-compatible), and the statistics come from the spec."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class NormalizedNet(nn.Module):
    """A network from another library behind the spec's normalization: `normalize` then `net` (not
    `model`/`module`: RobustBench's loader strips those from keys), so the state_dict is the network's own
    with `net.` in front."""

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.normalize = InputNormalization(mean, std)
        self.net = net

    def forward(self, x):
        return self.net(self.normalize(x))
