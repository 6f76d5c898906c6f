"""torch.compile with its kernel cache kept apart per CPU instruction set, and a run compiled as in a fresh process.

Inductor keeps compiled kernels on disk (TORCHINDUCTOR_CACHE_DIR, else /tmp/torchinductor_<user>) and, on
this torch, does not tell apart the instruction set ATen runs with: kernels compiled under AVX-512 were
reused under ATEN_CPU_CAPABILITY=avx2 (how a run of an AVX2-only machine is reproduced on a newer one) and
computed other numbers (a compiled training's loss went NaN; the compiled-equals-eager tests failed after
an AVX-512 compile on the same machine). So, unless the user has chosen a cache folder, sam-bench's
compiles use one per capability.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path

import torch

from sam_bench.runtime.memory_format import compile_options


def _inductors_default() -> str | None:
    try:  # where inductor caches when nobody chose: it writes that into TORCHINDUCTOR_CACHE_DIR once it looked
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # another torch: only an unset variable is ours to set
        return None
    return os.path.abspath(default_cache_dir())


def compiled(model: torch.nn.Module):
    """torch.compile(model), its kernels cached apart per instruction set unless the user chose a folder
    (TORCHINDUCTOR_CACHE_DIR set to anything but inductor's own default, which inductor itself puts there
    the first time it looks, e.g. when dynamo is reset)."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if chosen is None or os.path.abspath(chosen) == _inductors_default():
        capability = torch.backends.cpu.get_cpu_capability().lower()
        folder = Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}_{capability}"  # ..._root_avx2
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)

    options = compile_options(model)
    return torch.compile(model, options=options) if options else torch.compile(model)


def compiled_afresh(model: torch.nn.Module):
    """`compiled(model)` after dynamo has forgotten what this process compiled before: a training run's
    arithmetic must not depend on the runs before it in its process. Once the model's forward has seen a second
    batch size or BatchNorm momentum, dynamo compiles every later variant for any size, with other kernels
    ("automatic dynamic"): AT runs trained after SAM runs in one process computed other weights than in a fresh
    process (tools/retrain_after.py). Not for the probe and the benchmark, which time compiled parts side by side."""
    torch._dynamo.reset()
    return compiled(model)
