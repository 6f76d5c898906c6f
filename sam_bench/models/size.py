"""Whether a model fits in this machine's memory, asked before it is built (its parameters counted on torch's meta
device, which allocates nothing: `--width 1000` once asked for 147 GB for one layer), and an allocation that fails
anyway said in one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import torch

from sam_bench.errors import BadInput

# What the allocators say when they refuse: the CPU's "can't allocate memory: you tried to allocate N bytes",
# CUDA's "Tried to allocate 1.20 GiB".
_ASKED = re.compile(r"tried to allocate ([0-9.]+) ?(bytes|[KMGT]iB)", re.IGNORECASE)
_UNITS = {"bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def check_fits(what: str, build: Callable[[], torch.nn.Module]) -> None:
    """Refuse, before anything is allocated, a model whose fp32 parameters alone exceed the machine's memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # this machine's physical memory
    except (ValueError, OSError, AttributeError):  # the system does not say
        return
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in build().parameters())
    except Exception:  # a model that cannot be built on the meta device: the real build says what is wrong
        return
    if 4 * count > memory:
        raise BadInput(
            f"{what} has {count:,} parameters ({4 * count / 1e9:,.1f} GB in fp32), more than this machine's memory "
            f"({memory / 1e9:,.1f} GB): choose a smaller --width"
        )


def out_of_memory(what: str, err: BaseException) -> BadInput | None:
    """The one-line error for an allocation that failed while `what` was built; None for any other error."""
    text = str(err)
    if not (isinstance(err, MemoryError) or "allocate" in text or "out of memory" in text.lower()):
        return None
    asked = _ASKED.search(text)
    size = f" (it asked for {float(asked[1]) * _UNITS[asked[2].lower()] / 1e9:,.1f} GB)" if asked else ""
    return BadInput(f"building {what} ran out of memory{size}: choose a smaller --width")
