"""Figures are written small and reproducibly (files.png_bytes, files.write_figure): a PNG of at most 256
colours, the same bytes for the same figure; other formats as matplotlib writes them."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from sam_bench import files  # noqa: E402


def figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 50)
    for k in range(4):
        ax.plot(x, x**k, label=f"k={k}")
    ax.imshow(np.random.default_rng(0).random((8, 8)), extent=(0, 0.3, 0, 0.3), cmap="jet")
    ax.legend()
    return fig


def test_a_png_is_a_palette_image_and_the_same_figure_gives_the_same_bytes(tmp_path):
    fig = figure()
    first, second = files.png_bytes(fig, dpi=80), files.png_bytes(fig, dpi=80)
    assert first == second
    image = Image.open(io.BytesIO(first))
    assert image.mode == "P" and len(image.getcolors(256) or []) <= 256
    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=80)
    assert len(first) < len(rgba.getvalue())  # smaller than matplotlib's own PNG
    assert Image.open(rgba).size == image.size
    files.write_figure(tmp_path / "f.png", fig, dpi=80)
    assert (tmp_path / "f.png").read_bytes() == first
    files.write_figure(tmp_path / "f.svg", fig, "svg")
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
    plt.close(fig)


def test_a_figure_written_before_quantizing_is_re_encoded_as_png_bytes_writes_it(tmp_path):
    """tools/quantize_pngs.py: matplotlib's RGBA PNG of a figure becomes the bytes png_bytes gives the figure;
    a palette PNG is left as it is."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import quantize_pngs

    fig = figure()
    old, new = tmp_path / "old.png", tmp_path / "new.png"
    fig.savefig(old, format="png", dpi=80, metadata={"Software": None})
    files.write_figure(new, fig, dpi=80)
    plt.close(fig)
    assert quantize_pngs.main([str(old), str(new)]) == 0
    assert old.read_bytes() == new.read_bytes() == files.png_bytes(figure(), dpi=80)
