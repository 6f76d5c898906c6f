"""A corruption set, official (`official`) or generated from clean test images (`generate`), as one record: its
images by corruption, severity and range (`images`) and what it is (`describe()`, the record results keep)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sam_bench.corruptions import catalogue, official
from sam_bench.corruptions.generate import GENERATOR, corrupt
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput

SOURCES = {catalogue.GENERATED: "cifar10", catalogue.SAMPLE_GENERATED: "cifar10-sample"}


@dataclass
class CorruptionSet:
    name: str
    labels: np.ndarray  # the clean test labels, int64 (the same at every corruption and severity)
    clean: np.ndarray  # the clean test images, uint8 N x 32 x 32 x 3
    clean_fingerprint: str  # sha256 of the clean data set (data.Dataset.fingerprint)
    seed: int = 0  # a generated set's
    folder: Path | None = None  # the official set's
    _opened: dict = field(default_factory=dict, repr=False)

    @property
    def generated(self) -> bool:
        return catalogue.is_generated(self.name)

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, corruption: str, severity: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Test images start .. stop - 1 under `corruption` at `severity` (uint8 N x 32 x 32 x 3)."""
        catalogue.check_corruption(corruption)
        severity = catalogue.check_severity(severity)
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise BadInput(f"images {start}..{stop} of a corruption set of {len(self)}")
        if self.generated:
            return corrupt(self.clean[start:stop], corruption, severity, self.seed, start)
        if corruption not in self._opened:
            assert self.folder is not None
            self._opened[corruption] = official.open_corruption(self.folder, corruption, self.clean)
        offset = (severity - 1) * len(self)
        return np.asarray(self._opened[corruption][offset + start : offset + stop])

    def describe(self) -> dict:
        """What a results file records of the set it was measured on."""
        out = {
            "name": self.name,
            "generated": self.generated,
            "n_examples": len(self),
            "clean_sha256": self.clean_fingerprint,
        }
        if self.generated:
            out |= {"generator": GENERATOR, "seed": self.seed}
        elif self.folder is not None:
            out["files_sha256"] = {c: official.file_sha256(self.folder, c) for c in sorted(self._opened)}
        return out

    def write_layout(self, data_dir: str | os.PathLike) -> Path:
        """A generated set written in RobustBench's layout under data_dir (for RobustBench's own `benchmark`),
        marked as generated so that it is never read back as the official files."""
        if not self.generated:
            raise BadInput("the official CIFAR-10-C is already in RobustBench's layout")
        folder = official.corruption_folder(data_dir)

        def images_of(corruption):
            return np.concatenate([self.images(corruption, s) for s in catalogue.SEVERITIES])

        official.write_layout(folder, images_of, self.labels, self.describe())
        return folder


def load_corruption_set(
    name: str,
    data_dir: str | os.PathLike | None = None,
    corruptions_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> CorruptionSet:
    """The set `name`: `cifar10-c` from `corruptions_dir` (RobustBench's data dir, holding CIFAR-10-C/) with the
    CIFAR-10 test labels from `data_dir`; a generated one from the clean test images of its source."""
    catalogue.check_set(name)
    if name == catalogue.OFFICIAL:
        if corruptions_dir is None:
            raise BadInput("cifar10-c needs the folder that holds CIFAR-10-C/ (RobustBench's data dir)")
        folder = official.corruption_folder(corruptions_dir)
        official.check_not_generated(folder)
        clean = load_dataset("cifar10", data_dir)
        official.check_labels(folder, clean.y_test)
        return CorruptionSet(name, clean.y_test.astype(np.int64), clean.x_test, clean.fingerprint(), folder=folder)
    if corruptions_dir is not None:
        raise BadInput(f"{name} is made from the clean test images; a CIFAR-10-C folder is read only as cifar10-c")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInput(f"a generated corruption set's seed is a whole number >= 0, got {seed!r}")
    clean = load_dataset(SOURCES[name], data_dir)
    return CorruptionSet(name, clean.y_test.astype(np.int64), clean.x_test, clean.fingerprint(), seed=seed)
