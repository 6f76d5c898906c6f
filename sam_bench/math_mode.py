"""What "fp32" means on a GPU: TF32 for convolutions and matrix products, decided and recorded here.

torch runs fp32 cuDNN convolutions in TF32 on Ampere and newer GPUs by default (a 10-bit mantissa;
`torch.backends.cudnn.conv.fp32_precision == "tf32"`). An evaluation called fp32 computes every
logit and attack gradient in true fp32: `ieee_fp32()` switches TF32 off for its duration. Training
and the paper-loop baseline keep torch's defaults (the paper's code ran with them); every results
file records the mode it ran in (`current()`).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

# torch >= 2.9 names the setting per backend and operator; older versions have only the
# allow_tf32 flags, and mixing the two APIs is an error in new versions, so use one or the other.
_NEW_API = hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cuda.matmul, "fp32_precision")


def current() -> dict:
    """The math mode fp32 operations run in right now, for results files."""
    if _NEW_API:
        return {
            # torch.backends.cudnn is replaced at runtime by a CudnnModule, which has `conv`
            "cudnn_conv": torch.backends.cudnn.conv.fp32_precision,  # type: ignore[attr-defined]  # torch's stub: a module
            "cuda_matmul": torch.backends.cuda.matmul.fp32_precision,
        }
    return {
        "cudnn_conv": "tf32" if torch.backends.cudnn.allow_tf32 else "ieee",
        "cuda_matmul": "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee",
    }


@contextmanager
def ieee_fp32():
    """fp32 convolutions and matrix products on GPUs in true fp32 (no TF32) inside the block."""
    if _NEW_API:
        conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
        saved = conv.fp32_precision, matmul.fp32_precision
        conv.fp32_precision = matmul.fp32_precision = "ieee"
        try:
            yield
        finally:
            conv.fp32_precision, matmul.fp32_precision = saved
    else:
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
