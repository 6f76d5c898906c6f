"""Committed figures written before sam_bench.files.png_bytes quantized them, re-encoded as it would write them
now: the same pixels in at most 256 colours (`files.quantized_png`). For a figure whose arrays are not kept
(an analysis folder's input_gradients.png: its .npz files are not committed), rendering it again would mean
analysing its models again; its pixels are all the quantization needs.

    python tools/quantize_pngs.py reproductions/*/analysis/input_gradients.png     # re-encode, print sizes

A PNG that is already palette-based (written by png_bytes) is left as it is.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam_bench import files  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pngs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    from PIL import Image

    for path in args.pngs:
        data = path.read_bytes()
        if Image.open(io.BytesIO(data)).mode == "P":
            print(f"{path}: already at most 256 colours, left as it is")
            continue
        smaller = files.quantized_png(data)
        files.atomic_write(path, lambda f, smaller=smaller: f.write(smaller))
        print(f"{path}: {len(data) / 2**20:.2f} MiB -> {len(smaller) / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
