"""How fp32 arithmetic runs on a GPU, and the other global switches training and evaluation set: decided,
restored and recorded here (docs/evaluation.md).

torch runs fp32 cuDNN convolutions in TF32 on Ampere and newer GPUs by default. An evaluation scores in true fp32
(`evaluation()`, autotuning off: its batch sizes vary and its choice of algorithms must not) and searches in
torch's default math or in true fp32 (`search`); what training switches on, it switches back (`restores_switches`).
On a CPU none of these settings changes a number. Every results file records the modes (`current()`).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import torch

# torch >= 2.9 names the setting per backend and operator; older versions have only the
# allow_tf32 flags, and mixing the two APIs is an error in new versions, so use one or the other.
_NEW_API = hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cuda.matmul, "fp32_precision")

# How an evaluation's attacks search: "tf32" (torch's default: TF32 convolutions, fp32 matrix products)
# or "ieee" (true fp32 throughout). The outcome is scored in true fp32 either way.
SEARCH_MODES = ("tf32", "ieee")


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


def _set_precision(conv: str, matmul: str) -> None:
    """fp32 convolutions and matrix products in these modes ("ieee" or "tf32") from now on."""
    if _NEW_API:
        torch.backends.cudnn.conv.fp32_precision = conv  # type: ignore[attr-defined]  # torch's stub: a module
        torch.backends.cuda.matmul.fp32_precision = matmul
    else:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv == "tf32", matmul == "tf32"


@contextmanager
def _precision(conv: str, matmul: str):
    """fp32 convolutions and matrix products in these modes ("ieee" or "tf32") inside the block."""
    saved = current()
    _set_precision(conv, matmul)
    try:
        yield
    finally:
        _set_precision(saved["cudnn_conv"], saved["cuda_matmul"])


def switches() -> tuple[bool, str, str]:
    """Every global switch set here, as it stands: autotuning, the fp32 modes of convolutions and matrix products
    (what a lane of runtime/lanes.py keeps as its own while other lanes run)."""
    mode = current()
    return torch.backends.cudnn.benchmark, mode["cudnn_conv"], mode["cuda_matmul"]


def set_switches(state: tuple[bool, str, str]) -> None:
    """The switches as `switches()` gave them."""
    benchmark, conv, matmul = state
    torch.backends.cudnn.benchmark = benchmark
    _set_precision(conv, matmul)


def ieee_fp32():
    """fp32 convolutions and matrix products on GPUs in true fp32 (no TF32) inside the block."""
    return _precision("ieee", "ieee")


@contextmanager
def evaluation():
    """An evaluation's scoring: true fp32 and no autotuning inside the block, whatever was set before
    (a training in the same process turns autotuning on); everything restored after."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        with ieee_fp32():
            yield
    finally:
        torch.backends.cudnn.benchmark = saved


def search(mode: str):
    """The attacks' search inside an evaluation: "tf32" (torch's defaults) or "ieee" (true fp32)."""
    if mode not in SEARCH_MODES:
        raise ValueError(f"unknown search math {mode!r}; choose {' or '.join(SEARCH_MODES)}")
    return _precision("tf32", "ieee") if mode == "tf32" else _precision("ieee", "ieee")


def restores_switches(function):
    """Run `function` and put back the global switches it may set (autotuning, TF32), so that what
    runs after it in the same process (an evaluation after a training) starts from the same state."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        saved = switches()
        try:
            return function(*args, **kwargs)
        finally:
            set_switches(saved)

    return wrapper
