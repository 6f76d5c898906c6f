"""A cell's claim (cells/<run>.claim): a file made atomically, not a lock, so that it holds where `flock` does not
(docs/cluster.md, "No flock needed"): written aside, then hard-linked to its name; where hard links are refused,
O_CREAT|O_EXCL. It names its holder (host, pid and start time, SLURM job, a token only the holder knows), and is
taken over once its holder is known to be gone (`gone`), under a guard file made the same way, re-reading the claim
first: two processes that both judged it stale cannot both take it, and a fresh claim is never removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sam_bench.jobs import slurm_state

CLAIM_SUFFIX = ".claim"  # a claim is `<what it claims>.claim` (a cell's: cells/<run>.claim; files.locked's)
GUARD_SUFFIX = ".takeover"  # beside it during a take-over: <claim>.takeover
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0  # ten missed heartbeats: clocks of a file server and a node may differ by minutes
GUARD_STALE_S = 60.0  # a take-over takes milliseconds; a guard this old was left by a process that died


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str | None  # the process's start time (Linux: /proc/<pid>/stat), against pid reuse
    job_id: str | None
    token: str

    def describe(self) -> str:
        job = f", SLURM job {self.job_id}" if self.job_id else ""
        return f"process {self.pid} on {self.host}{job}"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _process_alive(holder: Holder) -> bool:
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    return holder.started is None or _start_time(holder.pid) in (None, holder.started)


def read(path: Path) -> Holder | None:
    """The claim's holder; None when there is no claim. A claim that cannot be parsed (half made by an
    O_EXCL create) reads as a holder nobody can identify."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return Holder(str(data["host"]), int(data["pid"]), data.get("started"), data.get("job_id"), str(data["token"]))
    except (ValueError, KeyError, TypeError):
        return Holder("?", -1, None, None, "")


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def gone(path: Path, holder: Holder) -> str | None:
    """Why the claim's holder is known to be gone (a reason in words), or None while it may be alive."""
    if holder.host == socket.gethostname() and holder.pid > 0:
        if holder.pid == os.getpid() and holder.started == _start_time(os.getpid()):
            return None  # this very process
        return None if _process_alive(holder) else f"{holder.describe()} has ended"
    job = slurm_state.this_job()
    if holder.job_id and holder.job_id == job:
        return f"{holder.describe()} was an earlier attempt of this job"
    silent = _age(path) > STALE_AFTER_S
    if holder.job_id:
        try:
            state = slurm_state.job_state(holder.job_id)
        except slurm_state.SchedulerUnreachable:
            return None  # no answer is no evidence
        if state in slurm_state.LIVE_STATES:
            return None
        if state not in (slurm_state.NOT_KNOWN, "UNKNOWN"):
            return f"{holder.describe()}: the job is {state}"
        return (
            f"{holder.describe()}: the scheduler does not know the job and it stopped its heartbeat" if silent else None
        )
    return f"{holder.describe()} stopped its heartbeat {_age(path) / 60:.0f} min ago" if silent else None


def _make(path: Path, content: str) -> bool:
    """Create `path` with `content` unless it exists, atomically: True if this call made it."""
    spare = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    spare.write_text(content)
    try:
        os.link(spare, path)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):  # no hard links here
            return _make_exclusive(path, content)
        # NFS can lose the reply of a link that succeeded: the link count says whether it did
        if spare.stat().st_nlink == 2:
            return True
        raise
    finally:
        spare.unlink(missing_ok=True)


def _make_exclusive(path: Path, content: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    return True


class Claim:
    """A claim this process holds; `release()` removes it (only if it is still this process's)."""

    # What the heartbeat waits on between beats: its wait(HEARTBEAT_S) is False when a beat is due, True once
    # released. A test replaces it to step the beats instead of waiting for the clock.
    beat_timer = threading.Event

    def __init__(self, path: Path, holder: Holder):
        self.path, self.holder = path, holder
        self._stop = self.beat_timer()
        self._beat = threading.Thread(target=self._heartbeat, name=f"claim {path.name}", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                if self.still_mine():
                    os.utime(self.path)

    def still_mine(self) -> bool:
        held = read(self.path)
        return held is not None and held.token == self.holder.token

    def release(self) -> None:
        self._stop.set()
        if self.still_mine():
            self.path.unlink(missing_ok=True)


def is_claim(path: str | os.PathLike) -> bool:
    """A claim or its take-over guard: they name processes of this machine, and come and go as they work."""
    return Path(path).name.endswith((CLAIM_SUFFIX, CLAIM_SUFFIX + GUARD_SUFFIX))


def try_claim(path: str | os.PathLike) -> Claim | None:
    """Claim the cell, taking over a claim whose holder is gone; None while another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    holder = Holder(socket.gethostname(), pid, _start_time(pid), slurm_state.this_job(), secrets.token_hex(8))
    content = json.dumps(asdict(holder))
    for _ in range(3):  # a claim released or taken over between two looks: look again
        if _make(path, content):
            return Claim(path, holder)
        found = read(path)
        if found is None:
            continue
        if gone(path, found) is None or not _take_over(path, found, content):
            return None
        return Claim(path, holder)
    return None


def _take_over(path: Path, stale: Holder, content: str) -> bool:
    """Replace the claim of a holder that is gone with ours, unless someone else does first."""
    guard = path.with_name(path.name + GUARD_SUFFIX)
    if not _make(guard, content):
        if _age(guard) < GUARD_STALE_S:
            return False  # another process is taking it over now
        guard.unlink(missing_ok=True)
        if not _make(guard, content):
            return False
    try:
        if read(path) != stale:  # taken over, or released and claimed afresh, since we looked
            return False
        path.unlink(missing_ok=True)
        return _make(path, content)
    finally:
        guard.unlink(missing_ok=True)


def state(path: str | os.PathLike) -> tuple[Holder | None, str | None]:
    """(holder, why it is gone) of the cell's claim, without touching it: (None, None) when there is
    none, (holder, None) while its holder may be alive."""
    path = Path(path)
    holder = read(path)
    return (holder, None if holder is None else gone(path, holder))
