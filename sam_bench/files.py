"""Files that others read are written atomically (temp file in the same folder, then rename),
and loaded without unpickling anything we did not write."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sam_bench.errors import BadInput, SamBenchError

if TYPE_CHECKING:  # torch itself is imported where it is used (see torch_save)
    import torch


def cannot_write(path, err: OSError) -> SamBenchError:
    if err.errno == errno.ENOSPC:
        return SamBenchError(
            f"cannot write {path}: the disk is full; what was there before is kept: free some space "
            "and run the command again (a training continues with --resume)"
        )
    return SamBenchError(f"cannot write {path}: {err.strerror or err}")


def check_writable(path: str | os.PathLike) -> None:
    """Fail now, in one line, if the file `path` could not be written later (no permission, a file
    where a folder should be, a read-only file system): before the work, not after it. Creates nothing."""
    _check_writable_in(Path(path).expanduser().absolute().parent, path)


def check_writable_folder(folder: str | os.PathLike) -> None:
    """check_writable for files yet unnamed in `folder` (made later where missing): the error names the folder."""
    _check_writable_in(Path(folder).expanduser().absolute(), folder)


def _check_writable_in(folder: Path, path: str | os.PathLike) -> None:
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder", str(existing))
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".sam-bench-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise cannot_write(path, err) from None


TEMPORARY_SUFFIX = ".tmp"  # atomic_write's temporary: .<name>.<random>.tmp beside the file it becomes


def is_temporary(path: str | os.PathLike) -> bool:
    """A file atomic_write is writing (or left behind when its process was killed)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file_object) on a temp file next to `path`, then rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    except OSError as err:
        raise cannot_write(path, err) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file should read like any other
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            raise cannot_write(path, err) from None  # disk full, a folder in the way, ...
        raise


@contextmanager
def locked(path: str | os.PathLike, timeout: float = 900):
    """Hold an exclusive lock on `path` (a file or a folder) against every other process, on this
    machine or another sharing the file system: a claim file `<path>.claim` beside it
    (`sam_bench.jobs.lease`: made atomically, no `flock` needed, so it holds on Lustre with
    localflock, BeeGFS and NFS mounted nolock too; taken over once its holder is known to be gone).
    Read-modify-write sequences (the zoo's free-id check, a leaderboard entry's update, the report)
    run inside it so that concurrent jobs neither lose an update nor clash on an id. Not re-entrant
    across calls: never nest two `locked` of the same path."""
    from sam_bench.jobs import lease

    path = Path(path)
    where = Path(f"{path}{lease.CLAIM_SUFFIX}")
    deadline, pause = time.monotonic() + timeout, 0.02
    try:
        while (claim := lease.try_claim(where)) is None:
            if time.monotonic() > deadline:
                holder, _ = lease.state(where)
                who = holder.describe() if holder else "another process"
                raise SamBenchError(f"{path}: still locked by {who} after {timeout:.0f} s ({where})")
            time.sleep(pause)
            pause = min(2 * pause, 0.5)
    except OSError as err:  # the claim beside `path` can't be made: nothing there could be written either
        raise cannot_write(where, err) from None
    try:
        yield
    finally:
        claim.release()


def write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path, obj, flat_number_lists: bool = False) -> None:
    """`obj` as indented JSON; `flat_number_lists`: every list of plain numbers on one line (a record of long
    numeric arrays, such as an analysis record's heat map, is then a third smaller and reads as rows)."""
    text = json.dumps(obj, indent=2, sort_keys=False)
    if flat_number_lists:
        text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    write_text(path, text + "\n")


# a JSON list whose items are all numbers (or null, or json.dumps' NaN and Infinity), as json.dumps indents it
_NUMBER = r"(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|null|NaN|-?Infinity)"
_NUMBER_LIST = re.compile(r"\[\s*(" + _NUMBER + r"(?:\s*,\s*" + _NUMBER + r")*)\s*\]")


def read_text(path) -> str:
    """A text document a user named (a README, a recipe, a page to fill): its text, or one line saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder; name a file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except OSError as err:  # no permission
        raise BadInput(f"{path}: cannot read it ({err.strerror or err})") from None


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SamBenchError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SamBenchError(f"{path}: not valid JSON ({err})") from None
    except OSError as err:  # a folder, no permission
        raise SamBenchError(f"{path}: cannot read it ({err.strerror or err})") from None


def save_safetensors(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    atomic_write(path, lambda f: f.write(data))


def load_safetensors(path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise SamBenchError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise SamBenchError(f"{path}: not a readable safetensors file ({err})") from None


def safetensors_header(path) -> dict[str, str]:
    """The string metadata in a safetensors file's header (what it was written with beside its tensors)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise SamBenchError(f"{path}: not a readable safetensors file ({err})") from None


def torch_save(path, obj) -> None:
    import torch  # here, not at the top: a SLURM job imports this module before its signal handlers exist

    try:
        atomic_write(path, lambda f: torch.save(obj, f))
    except RuntimeError as err:
        if not _zip_writer_failed(err):
            raise
        raise cannot_write(path, OSError(errno.ENOSPC, str(err).splitlines()[0])) from None


def _zip_writer_failed(err: RuntimeError) -> bool:
    """Whether torch's zip writer (caffe2/serialize/inline_container.cc) gave up on a write: a disk that
    fills part-way through a checkpoint reports itself as "PytorchStreamWriter failed writing file ..."
    or, when a short write leaves the file behind where the writer thinks it is, as
    "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598" (measured on a full tmpfs)."""
    text = str(err)
    return "inline_container" in text or "PytorchStreamWriter" in text or "unexpected pos" in text


def torch_load(path) -> dict:
    """Our own checkpoints, still loaded with weights_only=True (tensors and plain containers)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SamBenchError(f"{path}: file not found") from None
    except Exception as err:  # torch raises many types for a damaged zip/pickle stream
        raise SamBenchError(f"{path}: corrupted or unreadable checkpoint ({type(err).__name__})") from None


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def png_bytes(fig, **savefig) -> bytes:
    """A matplotlib figure as a PNG of at most 256 colours, without dithering: a plot's lines, markers and
    colour maps keep their look, and the file is a third of matplotlib's RGBA one (the committed reports'
    figures are part of every clone and every copy of the tree). The same figure gives the same bytes."""
    rendered = io.BytesIO()
    fig.savefig(rendered, format="png", metadata={"Software": None}, **savefig)
    return quantized_png(rendered.getvalue())


def quantized_png(png: bytes) -> bytes:
    """A PNG's pixels in at most 256 colours (median cut, no dithering), optimized: what `png_bytes` makes of a
    rendered figure, and what tools/quantize_pngs.py makes of a figure written before it did."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_figure(path: str | os.PathLike, fig, fmt: str = "png", **savefig) -> None:
    """Write a figure atomically: a PNG as `png_bytes` makes it, another format as matplotlib writes it."""
    if fmt == "png":
        data = png_bytes(fig, **savefig)
        atomic_write(path, lambda f: f.write(data))
    else:
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, **savefig))
