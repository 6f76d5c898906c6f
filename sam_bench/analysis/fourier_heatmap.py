"""Fourier heat map (Yin et al. 2019): the error rate under a Fourier basis perturbation at each spatial frequency
(docs/analysis.md). Stored centred (numpy's `fftshift`: [H/2][W/2] is frequency 0); U(i, j) and U(-i, -j) are the
same image, so one of each pair is evaluated and mirrored."""

from __future__ import annotations

import numpy as np
import torch

from sam_bench import files
from sam_bench.figure_labels import pyplot


def basis(i: int, j: int, size: int) -> torch.Tensor:
    """The real Fourier basis image of frequency (i, j) (indices mod `size`), L2 norm 1."""
    spectrum = torch.zeros(size, size, dtype=torch.complex128)
    spectrum[i % size, j % size] = 1
    spectrum[-i % size, -j % size] = 1  # its conjugate partner: the image is real
    image = torch.fft.ifft2(spectrum).real
    return (image / torch.linalg.vector_norm(image)).float()


def frequencies(size: int) -> list[tuple[int, int]]:
    """One (i, j) of each conjugate pair, in fftshift coordinates' order (i, j in -size/2 .. size/2 - 1)."""
    half = size // 2
    seen, kept = set(), []
    for i in range(-half, size - half):
        for j in range(-half, size - half):
            pair = ((-i) % size, (-j) % size)
            if pair in seen:
                continue
            seen.add((i % size, j % size))
            kept.append((i, j))
    return kept


@torch.no_grad()
def errors_at(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, i: int, j: int, norm: float, seed: int, batch_size: int
) -> int:
    """How many of the images (x in [0,1], NCHW) the model gets wrong under the perturbation of frequency (i, j)."""
    n, channels, size, _ = x.shape
    u = basis(i, j, size).to(x.device)
    generator = torch.Generator().manual_seed(seed)
    signs = (torch.randint(0, 2, (n, channels, 1, 1), generator=generator) * 2 - 1).to(x)
    wrong = 0
    for s in range(0, n, batch_size):
        perturbed = (x[s : s + batch_size] + norm * signs[s : s + batch_size] * u).clamp(0, 1)
        wrong += int((model(perturbed).argmax(1) != y[s : s + batch_size]).sum())
    return wrong


def heat_map(done: dict[str, int], n: int, size: int) -> np.ndarray:
    """The centred size x size map of error rates from {"i,j": wrong} for one of each conjugate pair."""
    half = size // 2
    grid = np.full((size, size), np.nan)
    for key, wrong in done.items():
        i, j = map(int, key.split(","))
        for a, b in ((i, j), (-i, -j)):
            # the partner of an index at the edge (-size/2) wraps to itself
            a, b = (a + half) % size - half, (b + half) % size - half
            grid[a + half, b + half] = wrong / n
    return grid


def band_error(grid: np.ndarray, low: float, high: float) -> float:
    """Mean error rate over the frequencies whose radius (cycles per image) is in [low, high)."""
    size = grid.shape[0]
    r = np.hypot(*np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2, indexing="ij"))
    return float(grid[(r >= low) & (r < high)].mean())


def plot(grid: np.ndarray, title: str, path) -> None:
    """The heat map as a PNG (frequency 0 at the centre)."""
    plt = pyplot()

    size = grid.shape[0]
    fig, ax = plt.subplots(figsize=(4, 3.5))
    extent = (-size // 2 - 0.5, size - size // 2 - 0.5, size - size // 2 - 0.5, -size // 2 - 0.5)
    shown = ax.imshow(100 * grid, cmap="jet", vmin=0, vmax=100, extent=extent)
    fig.colorbar(shown, ax=ax, label="error rate (%)")
    ax.set_xlabel("horizontal frequency")
    ax.set_ylabel("vertical frequency")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    files.write_figure(path, fig, dpi=100)
    plt.close(fig)
