"""Data sets as uint8 arrays (their sources by name: docs/training.md, "Data"), and a loader that augments on the
training device. Images stay uint8 until the loader turns a batch into floats in [0,1]; normalization lives in
the model.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sam_bench.errors import BadInput

# Per-channel statistics of the training sets (the usual published values).
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
SAMPLE_DIR = Path(__file__).parent / "sample_data"
DATASETS = ("cifar10", "cifar100", "cifar10-sample", "synthetic", "synthetic100")
FROM_FILES = ("cifar10", "cifar100")  # read from --data-dir; the sample is bundled, the synthetic ones are made


# The data sets whose arrays are fixed, by name: their fingerprint (Dataset.fingerprint, over the training and test
# arrays) and test-set size. A results file that carries such a fingerprint must name its data set, and one that names
# it must give its size: a relabelled test set is refused where results are read. CIFAR-10's
# is that of the arrays every loader here gives (tests/test_data.py checks it against the data where present, and
# every committed results file on CIFAR-10 records it); the bundled sample's is computed from the sample itself.
FINGERPRINTS = {
    "cifar10": ("f7c1f617eb6759b4fdb1a3dbeaed9a91116fb75c22e8784c6f6b22d419e6d73d", 10_000),
    "cifar10-sample": ("84d75b11199cb2b9ba2279fab60c4a9d0e22754e83e0bba947447b21f518cb1e", 500),
}


@dataclass
class Dataset:
    name: str  # what the user asked for
    family: str  # cifar10 or cifar100: sets the number of classes and the normalization
    x_train: np.ndarray  # uint8 (N, 32, 32, 3)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where the arrays came from

    @property
    def num_classes(self) -> int:
        return 100 if self.family == "cifar100" else 10

    @property
    def mean(self) -> tuple[float, ...]:
        return STATS[self.family][0]

    @property
    def std(self) -> tuple[float, ...]:
        return STATS[self.family][1]

    def fingerprint(self) -> str:
        """sha256 over all four arrays: the identity of the data a model saw."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train.astype(np.int64), self.x_test, self.y_test.astype(np.int64)):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "num_classes": self.num_classes,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
            "source": self.source,
            "sha256": self.fingerprint(),
        }


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Dataset:
    if name not in DATASETS:
        raise BadInput(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "cifar10-sample":
        return _load_sample()
    if name.startswith("synthetic"):
        return synthetic_dataset(num_classes=100 if name == "synthetic100" else 10, name=name)
    path = locate(name, data_dir)
    if path.is_file():
        return load_npz(path, name)
    return _load_torchvision(name, path, download, not_found_hint(name))


def _check_arrays(arrays: dict, num_classes: int, where: str) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise BadInput(f"{where}: x_{split} must be uint8 of shape (N, 32, 32, 3), got {x.dtype} {x.shape}")
        if y.ndim != 1 or y.dtype.kind not in "iu":  # one-hot, float, bool or string labels
            raise BadInput(
                f"{where}: y_{split} must hold one whole-number class label per image, shape (N,), got "
                f"{y.dtype} {y.shape}; convert it (one-hot: y.argmax(1); floats: y.astype(np.int64))"
            )
        if len(y) != len(x):
            raise BadInput(f"{where}: x_{split} and y_{split} differ in length")
        if len(y) == 0:
            raise BadInput(f"{where}: the {split} split is empty; it needs at least one image")
        if y.min() < 0 or y.max() >= num_classes:
            raise BadInput(f"{where}: y_{split} has labels outside 0..{num_classes - 1}")


NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | os.PathLike, family: str) -> Dataset:
    # An .npz is a zip archive: checked first, so that a truncated or foreign file is named as such
    # rather than as whatever numpy's fallback readers make of it.
    if not zipfile.is_zipfile(path):
        raise BadInput(f"{path}: not an .npz archive (truncated, or not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_ARRAYS if k not in f.files]
            if missing:
                raise BadInput(
                    f"{path}: no array {', '.join(missing)}; need {', '.join(NPZ_ARRAYS)} "
                    f"(it has {', '.join(f.files) or 'none'})"
                )
            arrays = {k: f[k] for k in NPZ_ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise BadInput(f"{path}: a damaged .npz archive ({type(err).__name__}: {err})") from None
    _check_arrays(arrays, 100 if family == "cifar100" else 10, str(path))
    x_train, y_train, x_test, y_test = (arrays[k] for k in NPZ_ARRAYS)
    return Dataset(family, family, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), str(path))


TRY_THE_SAMPLE = "or try the bundled 1,500-image sample with --dataset cifar10-sample"


def not_found_hint(name: str, instead: str = TRY_THE_SAMPLE) -> str:
    """What to do when data set `name` is not found: where to put it, or (CIFAR-10) what to try `instead`."""
    folder_name = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    hint = (
        f"{name} not found. Put {name}.npz (x_train, y_train, x_test, y_test; uint8 HWC) or "
        f"torchvision's {folder_name}/ folder in a directory and pass it as --data-dir "
        f"(or set SAM_BENCH_DATA)"
    )
    return f"{hint}; {instead}" if name == "cifar10" else hint


def locate(name: str, data_dir, instead: str = TRY_THE_SAMPLE) -> Path:
    """Where data set `name` (cifar10 or cifar100) is read from: its .npz, or a folder for torchvision's files;
    one line saying what to do where there is neither (for CIFAR-10, what to try `instead`)."""
    hint = not_found_hint(name, instead)
    data_dir = data_dir or os.environ.get("SAM_BENCH_DATA")
    if data_dir is None:
        raise BadInput(hint)
    path = Path(data_dir).expanduser()
    if path.is_file():
        return path
    if (path / f"{name}.npz").is_file():
        return path / f"{name}.npz"
    if not path.is_dir():  # not created for a download either: a mistyped path would be left behind
        raise BadInput(f"{hint}; {path} does not exist")
    return path


def _load_torchvision(name: str, root: Path, download: bool, hint: str) -> Dataset:
    # torchvision reads the official python-format batches (pickles) only after checking their
    # md5 against the official release, so the files it unpickles are the published data set.
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(str(root), train=True, download=False)
    except RuntimeError:
        if not download:
            raise BadInput(hint) from None
        try:
            train = cls(str(root), train=True, download=True)
        except Exception as err:  # offline, disk full, ...: all end in the same advice
            raise BadInput(f"{hint} (download failed: {type(err).__name__})") from None
    test = cls(str(root), train=False, download=False)
    x_train, x_test = (np.asarray(split.data, np.uint8) for split in (train, test))
    y_train, y_test = (np.asarray(split.targets, np.int64) for split in (train, test))
    return Dataset(name, name, x_train, y_train, x_test, y_test, source=str(root))


def _read_mosaic(path: Path, count: int) -> np.ndarray:
    """Images stored row-major in a lossless WebP mosaic of 32x32 tiles."""
    from PIL import Image

    m = np.asarray(Image.open(path).convert("RGB"))
    rows, cols = m.shape[0] // 32, m.shape[1] // 32
    tiles = m.reshape(rows, 32, cols, 32, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 3)
    return np.ascontiguousarray(tiles[:count])


def write_mosaic(path: Path, images: np.ndarray, cols: int = 50) -> None:
    from PIL import Image

    rows = math.ceil(len(images) / cols)
    canvas = np.zeros((rows * cols, 32, 32, 3), np.uint8)
    canvas[: len(images)] = images
    mosaic = canvas.reshape(rows, cols, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 32, cols * 32, 3)
    Image.fromarray(mosaic).save(path, "webp", lossless=True, quality=100, method=6)


def _load_sample() -> Dataset:
    labels_path = SAMPLE_DIR / "cifar10_sample_labels.npz"
    if not labels_path.is_file():
        raise BadInput(f"the bundled CIFAR-10 sample is missing from {SAMPLE_DIR}; reinstall sam-bench")
    with np.load(labels_path, allow_pickle=False) as f:
        y_train, y_test = f["y_train"].astype(np.int64), f["y_test"].astype(np.int64)
    x_train = _read_mosaic(SAMPLE_DIR / "cifar10_sample_train.webp", len(y_train))
    x_test = _read_mosaic(SAMPLE_DIR / "cifar10_sample_test.webp", len(y_test))
    return Dataset("cifar10-sample", "cifar10", x_train, y_train, x_test, y_test, source="bundled sample")


def synthetic_dataset(
    num_classes: int = 10, n_train: int = 512, n_test: int = 256, seed: int = 0, name: str = "synthetic"
) -> Dataset:
    """Each class is a smooth random colour pattern; images are that pattern plus noise: learnable in a few steps,
    so tests can check that training actually trains."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(num_classes, 4, 4, 3))
    patterns = coarse.repeat(8, axis=1).repeat(8, axis=2)  # (C, 32, 32, 3) blocky prototypes

    def make(n):
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        x = patterns[y] * 0.6 + rng.uniform(0, 255, size=(n, 32, 32, 3)) * 0.4
        return x.round().clip(0, 255).astype(np.uint8), y.astype(np.int64)

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    family = "cifar100" if num_classes == 100 else "cifar10"
    return Dataset(name, family, x_train, y_train, x_test, y_test, source=f"synthetic(seed={seed})")


def to_float(x_u8: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0,1], exactly as torchvision's ToTensor (RobustBench's loader)."""
    return torch.from_numpy(np.ascontiguousarray(x_u8)).permute(0, 3, 1, 2).contiguous().float().div(255)


def draw_augmentation(n: int, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """(3, n) int64 on the host: each image's crop row offset, column offset and flip (0/1)."""
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.stack([dy, dx, flip.long()])


def augment(batch_u8: torch.Tensor, draws: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random crop (reflect padding) and horizontal flip of a uint8 NCHW batch, on its device;
    `draws` comes from `draw_augmentation`, on the batch's device."""
    n, _, h, w = batch_u8.shape
    padded = torch.nn.functional.pad(batch_u8.float(), (pad, pad, pad, pad), mode="reflect")
    dev = batch_u8.device
    dy, dx, flip = draws
    rows = dy[:, None] + torch.arange(h, device=dev)[None, :]  # (n, h)
    cols = dx[:, None] + torch.arange(w, device=dev)[None, :]  # (n, w)
    cols = torch.where(flip.bool()[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2)


class DeviceLoader:
    """Batches of (float images in [0,1], int64 labels), with the whole split on `device`. The order and the
    augmentation of epoch e depend only on (seed, e): a resumed run sees the batches an uninterrupted one would."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        device,
        train: bool,
        seed: int = 0,
        memory_format: torch.memory_format = torch.contiguous_format,
    ):
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
        self.y = torch.from_numpy(np.asarray(y, np.int64)).to(device)
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.memory_format = memory_format  # the model's (`sam_bench.runtime.memory_format.training_format`)
        # A tensor on the batch's device, not the number 255: CUDA divides by a host scalar as a multiplication by
        # its reciprocal, one bit off a true division for half the pixel values (on the H200, the GPU's batches
        # differed from the CPU's: benchmarks/nvidia-h200-gpu-tests.log). On the CPU both divide truly, so CPU
        # runs compute exactly what they did.
        self.scale = torch.tensor(255.0, device=device)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.train and n >= self.batch_size else math.ceil(n / self.batch_size)

    def epoch(self, epoch: int = 0):
        n, bs, device = len(self.y), self.batch_size, self.y.device
        if self.train:
            # The whole epoch's random numbers are drawn on the host up front and copied in one go:
            # a host-to-GPU copy per batch would make the host wait for the GPU at every step.
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=gen).to(device)
            sizes = [min(bs, n - i * bs) for i in range(len(self))]
            draws = torch.cat([draw_augmentation(size, gen) for size in sizes], dim=1).to(device)
        else:
            order = torch.arange(n, device=device)
        for i in range(len(self)):
            idx = order[i * bs : (i + 1) * bs]
            xb = self.x[idx]
            xb = augment(xb, draws[:, i * bs : i * bs + len(idx)]) if self.train else xb.float()
            yield (xb / self.scale).contiguous(memory_format=self.memory_format), self.y[idx]
