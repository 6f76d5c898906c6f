"""Where a result came from: code version and commit, torch version, device."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from sam_bench.errors import BadInput
from sam_bench.runtime import code_identity
from sam_bench.version import __version__

# A copied tree (no .git, e.g. on a GPU machine without network) names its commit here: the
# variable, or a file written at copy time with `git rev-parse HEAD > COMMIT`.
COMMIT_VARIABLE, COMMIT_FILE = "SAM_BENCH_COMMIT", "COMMIT"
ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(None)
def code_commit(root: Path = ROOT) -> str | None:
    """The git commit of the sam-bench checkout (with '+dirty' for uncommitted changes); without
    git, $SAM_BENCH_COMMIT or the tree's COMMIT file (marked '+copy': local changes can't be seen)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        if commit:
            return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", "sam_bench") else "")
    except (OSError, subprocess.SubprocessError):
        pass
    named = os.environ.get(COMMIT_VARIABLE, "").strip()
    if not named and (root / COMMIT_FILE).is_file():
        named = (root / COMMIT_FILE).read_text().strip()
    return f"{named}+copy" if named else None


def shown(record: dict) -> str:
    """Where a measurement came from, for pages users read: the commit (without the '+copy' mark of a copied
    tree, which the record keeps) and the day it was made."""
    commit = (record["environment"].get("code_commit") or "unknown").removesuffix("+copy")
    return f"sam-bench commit `{commit}`, {str(record['created'])[:10]}"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput("--device cuda asked for, but torch sees no CUDA device here")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInput(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):  # torch knows mps, xpu, meta...: sam-bench is built and tested on these two
        raise BadInput(f"--device {name}: sam-bench runs on cpu or cuda (auto: cuda where torch sees one)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise BadInput(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s) here, numbered from 0")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment(device: torch.device) -> dict:
    env: dict[str, Any] = {
        "sam_bench_version": __version__,
        "torch_version": torch.__version__,
        "device": str(device),
        "device_name": device_name(device),
        # torch's intra-op threads: CPU training's numbers differ with them (reproduce --threads)
        "cpu_threads": torch.get_num_threads(),
        "code_commit": code_commit(),
        # the package's files themselves (runtime.code_identity): names the code where no commit travelled
        "code_fingerprint": code_identity.fingerprint(),
    }
    if torch.device(device).type == "cpu":
        # Which kernels ran: CPUs differ, and oneDNN bugs are per instruction set (see memory_format.py).
        env["cpu_isa"] = {
            "aten": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        }
        # Which processor: two CPUs at the same instruction-set level can still train different weights
        # (cpu-decisive's SAM runs trained on one AVX2 machine did not come back bit-identical on another).
        env["cpu_model"] = cpu_model()
    return env


@functools.lru_cache(None)
def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The processor's name with its vendor, family, model and stepping (Linux's /proc/cpuinfo; a virtual
    machine may shorten the name, the numbers still tell processors apart), else what `platform` knows."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or None
    first = {}
    for line in text.split("\n\n")[0].splitlines():  # the first processor's block: all cores are alike
        key, _, value = line.partition(":")
        first[key.strip()] = value.strip()
    name = first.get("model name") or platform.processor() or None
    numbers = [
        f"{label} {first[key]}"
        for key, label in (("cpu family", "family"), ("model", "model"), ("stepping", "stepping"))
        if first.get(key)
    ]
    details = ", ".join(([first["vendor_id"]] if first.get("vendor_id") else []) + numbers)
    return f"{name} ({details})" if name and details else name
