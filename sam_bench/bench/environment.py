"""The machine a benchmark ran on: the record's `environment`, and the slug its results file is named by."""

from __future__ import annotations

import os
import platform
import re

import torch

from sam_bench.runtime import provenance


def device_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (the default results file name)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def environment(device: torch.device, commit: str | None = None) -> dict:
    """sam-bench's provenance record of `device`, with the Python, torch and math settings timings depend on."""
    env = provenance.environment(device)
    # A copied tree (no .git) has no git metadata: the caller can name the commit.
    env["code_commit_source"] = "given" if commit else ("git" if env["code_commit"] else None)
    if commit:
        env["code_commit"] = commit
    env.update(
        python=platform.python_version(),
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        cuda=torch.version.cuda if device.type == "cuda" else None,
        cudnn=torch.backends.cudnn.version() if device.type == "cuda" else None,
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
    )
    return env
