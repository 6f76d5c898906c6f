"""One model, one id on a leaderboard: weights compared as tensors (name, dtype, shape, bytes), never as files, whose
header holds their entry's id; an fp16 copy of fp32 weights is other tensors, as a board row says its precision."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

import torch


def digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of the tensors: each one's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{str(tensor.dtype).removeprefix('torch.')}\0{tuple(tensor.shape)}\0".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


_DIGESTS: dict[str, str] = {}  # a weights file's sha256 -> its tensors' digest, within a process


def holder(
    state: Mapping[str, torch.Tensor], held: Iterable[tuple[str, str, Callable[[], Mapping[str, torch.Tensor] | None]]]
) -> str | None:
    """The id, among `held` ((id, its weights' sha256, what reads its checked tensors: None where they cannot be
    had)), whose tensors are `state`'s; None where none is."""
    wanted = digest(state)
    for model_id, sha256, tensors in held:
        if sha256 not in _DIGESTS:
            found = tensors()
            if found is None:
                continue
            _DIGESTS[sha256] = digest(found)
        if _DIGESTS[sha256] == wanted:
            return model_id
    return None
