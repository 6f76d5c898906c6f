"""Input gradients d log p(y | x) / dx: where a model looks, and how much its gradient looks like the image
(`alignment`: the amplitude spectra's cosine, this project's choice; `cosine`: the pixels'). docs/analysis.md."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sam_bench import files
from sam_bench.figure_labels import pyplot


def input_gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """d log p(y | x) / dx for each image (same shape as x)."""
    maps = []
    for s in range(0, len(x), batch_size):
        batch = x[s : s + batch_size].clone().requires_grad_(True)
        log_p = F.log_softmax(model(batch), dim=1).gather(1, y[s : s + batch_size, None]).sum()
        maps.append(torch.autograd.grad(log_p, batch)[0].detach())
    return torch.cat(maps)


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=(2, 3), keepdim=True)


def alignment(gradients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image: the cosine similarity of the amplitude spectra of its gradient and of the image
    minus each channel's mean."""
    spectrum = torch.fft.fft2(gradients).abs().flatten(1)
    image = torch.fft.fft2(_centred(x)).abs().flatten(1)
    return F.cosine_similarity(spectrum, image, dim=1, eps=1e-12)


def cosine(gradients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image: the cosine similarity of its gradient with the image minus each channel's mean."""
    return F.cosine_similarity(gradients.flatten(1), _centred(x).flatten(1), dim=1, eps=1e-12)


def to_picture(g: np.ndarray) -> np.ndarray:
    """A gradient map (CHW) as an HWC picture in [0,1]: 0.5 is zero, scaled by its own largest
    absolute value after clipping at the 99th percentile (one outlier pixel would grey it all)."""
    scale = float(np.percentile(np.abs(g), 99)) or 1.0
    return np.clip(0.5 + 0.5 * g / scale, 0, 1).transpose(1, 2, 0)


def plot_grid(images: np.ndarray, maps: list[tuple[str, np.ndarray]], path) -> None:
    """One PNG: the images (NCHW, [0,1]) in the top row, then each model's maps in a row."""
    plt = pyplot()

    n = images.shape[0]
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, n, figsize=(1.1 * n + 1.8, 1.15 * rows), squeeze=False)
    for col in range(n):
        axes[0][col].imshow(images[col].transpose(1, 2, 0))
        for row, (_, g) in enumerate(maps, start=1):
            axes[row][col].imshow(to_picture(g[col]))
    for row, label in enumerate(["image", *[name for name, _ in maps]]):
        axes[row][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Input gradients (d log p(y|x) / dx; grey = 0)", fontsize=9)
    fig.tight_layout()
    files.write_figure(path, fig, dpi=100)
    plt.close(fig)
