"""The probe's grouped-convolution parts (conv/separate/N<n>, conv/grouped/N<n>; docs/benchmarks.md): would N
seeds of one method train faster as one grouped network than as N networks? Only PreActResNet-18's 3x3
convolutions are timed: BatchNorm, activations and the optimizer run per model either way.
"""

from __future__ import annotations

import torch

from sam_bench.bench.measurement import probe_device

STAGES = ((64, 32), (128, 16), (256, 8), (512, 4))  # (channels at width 1, pixels): PreActResNet-18's stages
CONVS_PER_STAGE = 4  # two blocks of two 3x3 convolutions


def _layers(channels: int, groups: int, device: torch.device) -> list[tuple[torch.nn.Conv2d, int]]:
    layers = []
    for base, pixels in STAGES:
        c = max(1, round(base * channels)) * groups
        for _ in range(CONVS_PER_STAGE):
            conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False, groups=groups).to(device)
            conv.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks it
            layers.append((conv, pixels))
    return layers


def conv_pass(n: int, grouped: bool, s: dict, device_name: str):
    """One repetition's work: forward and backward through every convolution, N separate networks or one
    grouped network of N; a callable of nothing, as the probe's train steps are."""
    device = probe_device(s, device_name)
    torch.manual_seed(s["seed"])
    networks = [_layers(s["width"], n, device)] if grouped else [_layers(s["width"], 1, device) for _ in range(n)]
    inputs = []
    for layers in networks:
        per_layer = []
        for conv, pixels in layers:
            x = torch.randn(s["batch_size"], conv.in_channels, pixels, pixels, device=device)
            per_layer.append(x.to(memory_format=torch.channels_last).requires_grad_(True))
        inputs.append(per_layer)

    def run() -> None:
        for layers, xs in zip(networks, inputs, strict=True):
            for (conv, _), x in zip(layers, xs, strict=True):
                conv(x).sum().backward()

    return run
