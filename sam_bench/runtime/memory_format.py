"""Which memory format (NCHW or NHWC) a model runs in: the one place that decides it.

- Training (`train`, `bench`'s fast path): channels_last (NHWC) where it is safe, because it is
  faster on GPU tensor cores and, in our CPU measurements, on CPUs too.
- On a CPU, NHWC is NOT safe for a model with a strided 1x1 convolution whose input channels (per
  group) are fewer than 16: oneDNN's backward-weights kernel for that shape writes past its
  workspace (oneDNN issue #6035, open; "1x1 convolution backward_weights writes past the rtus
  workspace (nhwc, IC < ic_block)"). On AVX2 code paths (channel block 8) we measured a segfault,
  a hang or silently wrong weight gradients for 2-7 input channels; AVX-512 kernels use a block of
  16, so everything below 16 counts as unsafe. Such a model trains in NCHW on a CPU. Every
  PreActResNet-18 below width 0.25 has such shortcuts (64 x width input channels).
  `tests/test_memory_format.py` checks gradients against an fp64 reference on every ISA path.
- Evaluation (`evaluate`, `bench`'s attack throughput) runs NCHW everywhere: the stored weights as
  RobustBench and AutoAttack run them (pyautoattack `.view()`s gradients shaped like the input).
- The paper-loop baseline (`paper_loop`) runs NCHW: the paper's code uses the default format.
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
