"""A results file read once on its way to a board or a report: its bytes, their sha256, and a private copy that
the re-measurement reads. What is checked and what is published are then the same bytes: a file replaced on disk
during a check (minutes) reaches neither the check nor the board."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sam_bench.errors import SamBenchError


@dataclass(frozen=True)
class PinnedResults:
    """The bytes of a results file as read once, with the path it was read from (what messages name)."""

    path: Path
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def json(self) -> dict:
        try:
            return json.loads(self.data.decode())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SamBenchError(f"{self.path}: not valid JSON ({err})") from None

    @contextmanager
    def private_copy(self) -> Iterator[Path]:
        """The pinned bytes in a file of their own (same name, in a fresh private folder), removed afterwards;
        a SamBenchError raised inside names the file as it was given, not the copy."""
        folder = Path(tempfile.mkdtemp(prefix="sam-bench-pinned-"))
        copy = folder / self.path.name
        try:
            copy.write_bytes(self.data)
            try:
                yield copy
            except SamBenchError as err:
                text = str(err).replace(str(copy), str(self.path))
                if text == str(err):
                    raise
                raise type(err)(text) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def pin(path: str | Path) -> PinnedResults:
    """The file's bytes, read once; one line where it cannot be read."""
    path = Path(path)
    try:
        return PinnedResults(path, path.read_bytes())
    except FileNotFoundError:
        raise SamBenchError(f"{path}: file not found") from None
    except OSError as err:  # a folder, no permission
        raise SamBenchError(f"{path}: cannot read it ({err.strerror or err})") from None
