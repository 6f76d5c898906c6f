"""Which memory format (NCHW or NHWC) a model runs in: the one place that decides it (docs/development.md).

Training: channels_last where it is safe. On a CPU, NHWC is NOT safe for a model with a strided 1x1 convolution
of fewer than 16 input channels (per group): oneDNN's backward-weights kernel for that shape writes past its
workspace (oneDNN issue #6035), so such a model trains in NCHW there (tests/test_memory_format.py). Evaluation
runs NCHW everywhere: the stored weights as RobustBench and AutoAttack run them (pyautoattack `.view()`s
gradients shaped like the input); so does the paper-loop baseline, as the paper's code does.
"""

from __future__ import annotations

import torch
import torch.nn as nn

# oneDNN's largest input-channel block (AVX-512); a strided 1x1 convolution with fewer input
# channels per group than this may meet oneDNN #6035 in NHWC.
ONEDNN_IC_BLOCK = 16

EVALUATION = torch.contiguous_format
PAPER_LOOP = torch.contiguous_format


def meets_onednn_6035(conv: nn.Module) -> bool:
    """True for a convolution of the shape class oneDNN #6035 breaks: 1x1, strided, few input channels."""
    return (
        isinstance(conv, nn.Conv2d)
        and tuple(conv.kernel_size) == (1, 1)
        and tuple(conv.stride) != (1, 1)
        and conv.in_channels // conv.groups < ONEDNN_IC_BLOCK
    )


def training_format(model: nn.Module, device) -> torch.memory_format:
    """The memory format `model` trains in on `device` (the model's inputs must use it too)."""
    if torch.device(device).type == "cpu" and any(meets_onednn_6035(m) for m in model.modules()):
        return torch.contiguous_format
    return torch.channels_last


# oneDNN's input-channel block on AVX2 code paths: #6035 was measured below it (2-7 input channels)
AVX2_IC_BLOCK = 8


def compile_options(model: nn.Module) -> dict:
    """inductor's options for compiling `model` where its parameters are. On a CPU inductor runs every
    convolution in NHWC whatever the model's format (its layout optimization), so a model with a strided 1x1
    convolution of fewer input channels than AVX2's block crashed there (#6035: a segfault training
    PreActResNet-18 at 1/16 width with --compile): it compiles with that optimization off. A model with 8-15
    such channels keeps it: its compiled runs trained and were recorded so, and must retrain to the same bits."""
    on_cpu = next(model.parameters(), torch.empty(0)).device.type == "cpu"
    narrow = any(
        isinstance(m, nn.Conv2d) and meets_onednn_6035(m) and m.in_channels // m.groups < AVX2_IC_BLOCK
        for m in model.modules()
    )
    return {"layout_optimization": False} if on_cpu and narrow else {}


def place(model: nn.Module, device, layout: torch.memory_format) -> nn.Module:
    """`model` moved to `device`, its 4-d parameters and buffers in `layout`."""
    # Module.to takes memory_format at runtime (torch._C._nn._parse_to)
    return model.to(device, memory_format=layout)  # type: ignore[call-overload]  # torch's overloads omit it
