"""torch's random draws on a CUDA GPU, computed on the CPU: what `uniform_` and `normal_` of a float32 CUDA tensor
drew, so that a spot check on a CPU replays the PGD starts of a GPU's results file recorded before per-image draws
(pgd_replay.py) and what can differ is arithmetic alone.

On a GPU, torch draws from Philox4x32-10 (Salmon et al. 2011, as curand implements it) keyed by the generator's seed:
a distribution kernel of `numel` elements runs a grid-stride loop of 256-thread blocks, at most 8 blocks per
multiprocessor (2,048 threads each, Hopper's), each thread's counter starting at (the generator's offset / 4, 0,
its thread index, 0) and drawing four words a call; element `li` takes word `li // threads % 4` of the thread
`li % threads`'s call `li // (4 threads)`. A kernel moves the generator's offset on by 4 words per call a thread
makes. Uniform words become floats as curand's `curand_uniform4` makes them, normal ones by its Box-Muller
(`curand_normal4`: the GPU's fast sine and cosine, so a normal draw here may differ from the GPU's in its last bits).

The grid depends on the GPU's count of multiprocessors, so a GPU is replayable here where `MULTIPROCESSORS` knows it
(a file records its device's name); the replay of the full-scale H200 files is measured in docs/evaluation.md."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# Multiprocessors of the GPUs whose draws are computed here, by the name torch.cuda.get_device_name gives
MULTIPROCESSORS = {"NVIDIA H200": 132}
BLOCK, BLOCKS_PER_MULTIPROCESSOR, WORDS = 256, 2048 // 256, 4

_MASK = np.uint64(0xFFFFFFFF)
_KEY_STEP = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))
_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_INV_2_32 = np.float32(2.0**-32)
_INV_2_32_2PI = np.float32(np.float32(2.3283064e-10) * np.float32(6.2831855))  # curand's CURAND_2POW32_INV_2PI


def gpu_of(environment: Mapping) -> str | None:
    """The GPU a results file's environment names where its draws can be computed here; None otherwise."""
    name = environment.get("device_name")
    return name if environment.get("device") == "cuda" and name in MULTIPROCESSORS else None


def philox(counter: list[np.ndarray], key: tuple[int, int]) -> list[np.ndarray]:
    """Philox4x32-10 of each counter (four uint32 words, arrays of one length) under a 64-bit key (low, high word)."""
    c0, c1, c2, c3 = (np.asarray(word, np.uint64) for word in counter)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + _KEY_STEP[0]) & _MASK, (k1 + _KEY_STEP[1]) & _MASK
        p0, p1 = _MULTIPLIERS[0] * c0, _MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK
    return [word.astype(np.uint32) for word in (c0, c1, c2, c3)]


class CudaGenerator:
    """torch's CUDA generator as `torch.manual_seed(seed)` leaves it on the GPU `gpu`, drawing as its kernels draw:
    each call moves its offset on as the kernel does, and returns only the elements asked for."""

    def __init__(self, seed: int, gpu: str):
        self.seed, self.offset = int(seed), 0
        self.most_threads = MULTIPROCESSORS[gpu] * BLOCKS_PER_MULTIPROCESSOR * BLOCK

    def _words(self, numel: int, elements: np.ndarray) -> tuple[np.ndarray, int]:
        """The word each element of a `numel`-element kernel gets, and the threads of its grid."""
        threads = min(self.most_threads, (numel + BLOCK - 1) // BLOCK * BLOCK)
        call, within = np.divmod(np.asarray(elements, np.int64), threads * WORDS)
        word, thread = np.divmod(within, threads)
        first = np.uint64(self.offset // WORDS) + call.astype(np.uint64)
        key = (self.seed & 0xFFFFFFFF, self.seed >> 32)
        counter = [first & _MASK, first >> np.uint64(32), thread.astype(np.uint64), np.zeros_like(first)]
        words = np.stack(philox(counter, key))
        return words[word, np.arange(len(word))], threads

    def _advance(self, numel: int, threads: int) -> None:
        self.offset += ((numel - 1) // (threads * WORDS) + 1) * WORDS

    def uniform(self, numel: int, low: float, high: float, elements: np.ndarray) -> np.ndarray:
        """`uniform_(low, high)` of a float32 tensor of `numel` elements: the values of `elements` (flat indices)."""
        words, threads = self._words(numel, elements)
        low32, high32 = np.float32(low), np.float32(high)
        unit = words.astype(np.float32) * _INV_2_32 + _INV_2_32 / np.float32(2)  # in (0, 1]
        value = (unit.astype(np.float64) * np.float64(high32 - low32) + np.float64(low32)).astype(np.float32)  # fma
        self._advance(numel, threads)
        return np.where(value == high32, low32, value)  # torch turns (0, 1] into [0, 1)

    def normal(self, numel: int, elements: np.ndarray) -> np.ndarray:
        """`normal_()` of a float32 tensor of `numel` elements: the values of `elements` (flat indices)."""
        elements = np.asarray(elements, np.int64)
        threads = min(self.most_threads, (numel + BLOCK - 1) // BLOCK * BLOCK)
        word = elements // threads % WORDS
        pair = elements - (word % 2) * threads  # an element's Box-Muller pair: words (0, 1) or (2, 3) of its call
        radius_words, _ = self._words(numel, pair)
        angle_words, _ = self._words(numel, pair + threads)
        u = radius_words.astype(np.float32) * _INV_2_32 + _INV_2_32 / np.float32(2)
        v = angle_words.astype(np.float32) * _INV_2_32_2PI + _INV_2_32_2PI / np.float32(2)
        s = np.sqrt(np.float32(-2.0) * np.log(u))
        self._advance(numel, threads)
        return np.where(word % 2 == 0, np.sin(v) * s, np.cos(v) * s).astype(np.float32)
