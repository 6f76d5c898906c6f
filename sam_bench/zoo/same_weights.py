"""One model, one id on a leaderboard: weights compared as tensors, never as files.

A zoo weights file's header holds its entry's id (`sam_bench_id`, beside the normalization), so the same tensors
added under two ids are two files with two sha256s; comparing files would let one model rank twice. The digest here
covers every tensor's name, dtype, shape and bytes and nothing of the header. The same tensors in another precision
(an fp16 copy of fp32 weights) are other tensors: a board row says the precision its figures were measured in."""

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
