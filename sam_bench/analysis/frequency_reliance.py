"""Frequency reliance (Wang et al. 2020): accuracy on test images that keep only their low or only their high
spatial frequencies (docs/analysis.md)."""

from __future__ import annotations

import torch


def radius(size: int) -> torch.Tensor:
    """Each frequency's distance from 0 in numpy's unshifted FFT layout (cycles per image)."""
    f = torch.fft.fftfreq(size) * size
    return torch.hypot(f[:, None], f[None, :])


def filtered(x: torch.Tensor, cutoff: float, keep: str) -> torch.Tensor:
    """x (NCHW, [0,1]) with only its frequencies of radius <= cutoff (keep='low') or > cutoff
    plus the constant (keep='high')."""
    r = radius(x.shape[-1]).to(x.device)
    mask = (r <= cutoff) if keep == "low" else (r > cutoff) | (r == 0)
    return torch.fft.ifft2(torch.fft.fft2(x) * mask).real.clamp(0, 1)


@torch.no_grad()
def correct_under_filter(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cutoff: float | None, keep: str, batch_size: int
) -> torch.Tensor:
    """Per image: does the model classify the filtered image right? (cutoff None: the image itself)"""
    flags = []
    for s in range(0, len(x), batch_size):
        batch = x[s : s + batch_size]
        if cutoff is not None:
            batch = filtered(batch, cutoff, keep)
        flags.append(model(batch).argmax(1) == y[s : s + batch_size])
    return torch.cat(flags).cpu()
