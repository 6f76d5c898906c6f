"""The official CIFAR-10-C files in RobustBench's layout (`<data-dir>/CIFAR-10-C/<corruption>.npy` and
`labels.npy`), each checked before a single image is used (published md5, shape, dtype, labels, no generated set in
the same layout) and its sha256 recorded with the results: docs/evaluation.md."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from sam_bench import files
from sam_bench.corruptions.catalogue import CORRUPTIONS, GENERATED, SEVERITIES
from sam_bench.corruptions.generate import GENERATOR, corrupt
from sam_bench.errors import BadInput

FOLDER = "CIFAR-10-C"
MARKER = "GENERATED.json"  # left by write_layout in a folder of generated files
PROBE = 4  # images per file compared with the generator's output

# The md5 of each file of the released CIFAR-10-C (Hendrycks and Dietterich, Zenodo record 2535967, CIFAR-10-C.tar),
# as published with loaders that check them: torch-uncertainty's CIFAR10C.ctest_list
# (github.com/ENSTA-U2IS-AI/torch-uncertainty, torch_uncertainty/datasets/classification/cifar/cifar_c.py at
# 9df886ad01ad67add1e1f9099bb99c7f3ec653a8), the same 20 values in another project's Cifar10Corrupted.fileList.
# Only the 15 corruptions RobustBench ranks and the labels are read here.
PUBLISHED_MD5 = {
    "brightness": "0a81ef75e0b523c3383219c330a85d48",
    "contrast": "3c8262171c51307f916c30a3308235a8",
    "defocus_blur": "7d1322666342a0702b1957e92f6254bc",
    "elastic_transform": "9421657c6cd452429cf6ce96cc412b5f",
    "fog": "7b397314b5670f825465fbcd1f6e9ccd",
    "frost": "31f6ab3bce1d9934abfb0cc13656f141",
    "gaussian_noise": "ecaf8b9a2399ffeda7680934c33405fd",
    "glass_blur": "7361fb4019269e02dbf6925f083e8629",
    "impulse_noise": "2090e01c83519ec51427e65116af6b1a",
    "jpeg_compression": "2b9cc4c864e0193bb64db8d7728f8187",
    "motion_blur": "fffa5f852ff7ad299cfe8a7643f090f4",
    "pixelate": "0f14f7e2db14288304e1de10df16832f",
    "shot_noise": "3a7239bb118894f013d9bf1984be7f11",
    "snow": "bb238de8555123da9c282dea23bd6e55",
    "zoom_blur": "6ea8e63f1c5cdee1517533840641641b",
    "labels": "c439b113295ed5254878798ffe28fd54",
}


def corruption_folder(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir).expanduser() / FOLDER


def check_labels(folder: Path, test_labels: np.ndarray) -> None:
    """labels.npy must hold the test labels once per severity."""
    labels = _load(folder / "labels.npy")
    check_published(folder / "labels.npy", "labels")
    expected = np.tile(np.asarray(test_labels, np.int64), len(SEVERITIES))
    if labels.shape != expected.shape:
        raise BadInput(f"{folder / 'labels.npy'}: shape {labels.shape}, expected {expected.shape}")
    for block in range(len(SEVERITIES)):
        part = slice(block * len(test_labels), (block + 1) * len(test_labels))
        if not np.array_equal(labels[part].astype(np.int64), expected[part]):
            raise BadInput(
                f"{folder / 'labels.npy'}: severity {block + 1}'s labels are not the CIFAR-10 test labels in order"
            )


def open_corruption(folder: Path, corruption: str, test_images: np.ndarray) -> np.ndarray:
    """One corruption's 50,000 images, memory-mapped, after its shape, dtype and origin are checked."""
    path = folder / f"{corruption}.npy"
    images = _load(path, mmap=True)
    check_published(path, corruption)
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


def check_published(path: Path, name: str) -> None:
    """One line unless the file's md5 is the one published for the released file of that name."""
    md5, _ = _fingerprints(path)
    if md5 != PUBLISHED_MD5[name]:
        raise BadInput(
            f"{path}: not the released CIFAR-10-C file (md5 {md5}, the published {PUBLISHED_MD5[name]}); use the "
            f"files of CIFAR-10-C.tar as released (Zenodo record 2535967), or the generated set ({GENERATED})"
        )


def file_sha256(folder: Path, corruption: str) -> str:
    return _fingerprints(folder / f"{corruption}.npy")[1]


_FINGERPRINTS: dict[tuple, tuple[str, str]] = {}  # (path, size, mtime) -> (md5, sha256): each file read once


def _fingerprints(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, in one pass."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FINGERPRINTS:
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                md5.update(block)
                sha.update(block)
        _FINGERPRINTS[key] = (md5.hexdigest(), sha.hexdigest())
    return _FINGERPRINTS[key]


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
