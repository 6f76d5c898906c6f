"""The official CIFAR-10-C files in RobustBench's layout, checked before a single image is used.

`<data-dir>/CIFAR-10-C/<corruption>.npy` (50,000 x 32 x 32 x 3 uint8: severities 1-5 stacked in blocks of
10,000, each block the CIFAR-10 test set in its order) and `labels.npy` (50,000 labels). What is checked:
each file's shape and dtype, the labels (every block equal to the CIFAR-10 test labels), and that the folder
is not a generated set written in the same layout (`write_layout` leaves a GENERATED.json there, and the
first images of each file are compared with what the generator makes from the same test images). The files'
sha256 are computed and recorded with the results, not compared with a published list: sam-bench ships no
such list, since none was computed from the released files on the machines it was built on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sam_bench import files
from sam_bench.corruptions.catalogue import CORRUPTIONS, SEVERITIES
from sam_bench.corruptions.generate import GENERATOR, corrupt
from sam_bench.errors import BadInput

FOLDER = "CIFAR-10-C"
MARKER = "GENERATED.json"  # left by write_layout in a folder of generated files
BLOCK = 10_000  # images per severity
PROBE = 4  # images per file compared with the generator's output


def corruption_folder(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir).expanduser() / FOLDER


def check_labels(folder: Path, test_labels: np.ndarray) -> np.ndarray:
    """labels.npy, which must hold the test labels once per severity."""
    labels = _load(folder / "labels.npy")
    expected = np.tile(np.asarray(test_labels, np.int64), len(SEVERITIES))
    if labels.shape != expected.shape:
        raise BadInput(f"{folder / 'labels.npy'}: shape {labels.shape}, expected {expected.shape}")
    for block in range(len(SEVERITIES)):
        part = slice(block * len(test_labels), (block + 1) * len(test_labels))
        if not np.array_equal(labels[part].astype(np.int64), expected[part]):
            raise BadInput(
                f"{folder / 'labels.npy'}: severity {block + 1}'s labels are not the CIFAR-10 test labels in order"
            )
    return labels


def open_corruption(folder: Path, corruption: str, test_images: np.ndarray) -> np.ndarray:
    """One corruption's 50,000 images, memory-mapped, after its shape, dtype and origin are checked."""
    path = folder / f"{corruption}.npy"
    images = _load(path, mmap=True)
    expected = (len(SEVERITIES) * len(test_images), 32, 32, 3)
    if images.shape != expected or images.dtype != np.uint8:
        raise BadInput(f"{path}: {images.dtype} {images.shape}, expected uint8 {expected}")
    for severity in (1, len(SEVERITIES)):
        start = (severity - 1) * len(test_images)
        made = corrupt(np.asarray(test_images[:PROBE]), corruption, severity)
        if np.array_equal(np.asarray(images[start : start + PROBE]), made):
            raise BadInput(f"{path}: these images are sam-bench's generated ones ({GENERATOR}), not the official files")
    return images


def check_not_generated(folder: Path) -> None:
    if (folder / MARKER).exists():
        raise BadInput(f"{folder} holds a generated set ({MARKER}): it cannot be read as the official CIFAR-10-C")


def file_sha256(folder: Path, corruption: str) -> str:
    return files.sha256_file(folder / f"{corruption}.npy")


def write_layout(folder: Path, images_of, labels: np.ndarray, describe: dict) -> None:
    """A set's images written in RobustBench's layout (`images_of(corruption)`: its 50,000 images), each file
    atomically, with GENERATED.json beside them: what RobustBench's own loader reads, never taken as official."""
    folder.mkdir(parents=True, exist_ok=True)
    files.write_json(folder / MARKER, describe)
    files.atomic_write(folder / "labels.npy", lambda f: np.save(f, np.tile(labels.astype(np.uint8), len(SEVERITIES))))
    for corruption in CORRUPTIONS:
        files.atomic_write(folder / f"{corruption}.npy", lambda f, c=corruption: np.save(f, images_of(c)))


def _load(path: Path, mmap: bool = False) -> np.ndarray:
    if not path.is_file():
        raise BadInput(f"{path} not found: CIFAR-10-C in RobustBench's layout is <data-dir>/{FOLDER}/<corruption>.npy")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise BadInput(f"{path}: not a readable .npy array ({err})") from None
