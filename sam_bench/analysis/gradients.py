"""Input gradients: where a model looks, and how much its gradient looks like the image.

The map of an image x of class y is the gradient of the model's log-probability of y with respect to
x (the negative of the loss gradient an attack follows): the direction that makes the image more
of its class. Adversarially trained models have gradients that look like the image's edges and
shapes ("perceptually aligned", Tsipras et al. 2019); standard models have noise-like ones.

Two scores per image, both 1 when the gradient is the image itself (each channel's mean removed):
- `alignment` (this project's choice for the prediction's test): the cosine similarity of the
  gradient's and the centred image's amplitude spectra (|FFT| per channel, all channels together).
  It asks whether the gradient is made of the image's frequencies: natural images and robust
  models' gradients put their energy at low frequencies, a standard model's noise-like gradient
  spreads it evenly. A random gradient scores well above 0 (amplitudes are never negative): a
  record keeps the score of Gaussian noise on the same images as the reference level. The score
  ignores phase and sign, so it does not ask whether the gradient draws the image's edges in the
  right places.
- `cosine`: the plain cosine similarity of the gradient and the centred image, pixel by pixel
  (signed; near 0 for most trained models, whose gradients are not the image).
Models are compared on the same images, image by image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sam_bench import files


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
