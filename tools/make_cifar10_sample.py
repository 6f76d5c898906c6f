#!/usr/bin/env python3
"""Write the bundled CIFAR-10 sample (sam_bench/sample_data/) from the full data set.

usage: python tools/make_cifar10_sample.py CIFAR10.npz  (e.g. from ../shared/tools/cifar10_unpack.py)

Training part: the first 150 images of each class in training order (1,500, balanced).
Test part: the first 500 test images (RobustBench's convention: the first N test images).
Stored as lossless WebP mosaics (about 2.5 MB) plus a small label file.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sam_bench.data import SAMPLE_DIR, write_mosaic  # noqa: E402

PER_CLASS, N_TEST = 150, 500

with np.load(sys.argv[1], allow_pickle=False) as f:
    x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
train_idx = np.sort(np.concatenate([np.flatnonzero(y_train == c)[:PER_CLASS] for c in range(10)]))
SAMPLE_DIR.mkdir(exist_ok=True)
write_mosaic(SAMPLE_DIR / "cifar10_sample_train.webp", x_train[train_idx])
write_mosaic(SAMPLE_DIR / "cifar10_sample_test.webp", x_test[:N_TEST])
np.savez_compressed(
    SAMPLE_DIR / "cifar10_sample_labels.npz",
    y_train=y_train[train_idx].astype(np.uint8),
    y_test=y_test[:N_TEST].astype(np.uint8),
    train_index=train_idx.astype(np.int32),
)
print(f"wrote {len(train_idx)} training and {N_TEST} test images to {SAMPLE_DIR}")
