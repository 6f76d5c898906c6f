"""Cell claims (sam_bench.jobs.lease) hold without `flock`, as on Lustre with localflock,
BeeGFS or NFS mounted nolock, and are taken over only once their holder is known to be gone."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sam_bench.jobs import lease, slurm_state

# A child process whose flock fails as on a file system without it, racing another for every cell:
# it waits for the start signal, claims what it can, and stays alive holding it until told to stop
# (a holder that has ended may rightly be taken over), then exits without releasing.
RACER = """
import errno, fcntl, json, os, sys, time
from pathlib import Path

def no_flock(*args, **kwargs):
    raise OSError(errno.ENOLCK, "No locks available")

fcntl.flock = fcntl.lockf = no_flock
from sam_bench.jobs import lease

folder, n = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
while not (folder / "go").exists():
    time.sleep(0.001)
won = [i for i in range(n) if lease.try_claim(folder / f"cell{i}.claim") is not None]
print(json.dumps(won), flush=True)
while not (folder / "stop").exists():
    time.sleep(0.01)
os._exit(0)
"""


def test_two_processes_without_flock_never_claim_the_same_cell(tmp_path):
    n = 60
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    assert [r.stdout.readline() for r in racers] == ["ready\n"] * 2  # both imported and waiting, however slowly
    (tmp_path / "go").touch()
    won = [json.loads(r.stdout.readline()) for r in racers]
    holders = {json.loads((tmp_path / f"cell{i}.claim").read_text())["pid"] for i in range(n)}
    (tmp_path / "stop").touch()
    assert all(r.wait(timeout=60) == 0 for r in racers)
    assert sorted(won[0] + won[1]) == list(range(n))  # every cell claimed once, none twice
    assert holders <= {r.pid for r in racers}


def test_the_flock_of_the_racers_is_really_gone():
    """The race above is only a test of the claims if flock itself fails in its processes."""
    code = RACER.split("from sam_bench")[0] + "fcntl.flock(0, fcntl.LOCK_EX)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "No locks available" in proc.stderr


def test_a_claim_of_a_process_that_ended_is_taken_over_and_reading_changes_nothing(tmp_path):
    path = tmp_path / "ST.claim"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from sam_bench.jobs import lease; import os; assert lease.try_claim({str(path)!r}); os._exit(0)",
        ],
        check=True,
    )
    assert child.returncode == 0
    before = path.read_bytes()
    holder, gone = lease.state(path)
    assert "has ended" in gone and path.read_bytes() == before  # --status reads, never takes
    claim = lease.try_claim(path)
    assert claim is not None and json.loads(path.read_text())["pid"] == os.getpid()
    assert lease.try_claim(path) is None  # held by a live process (this one)
    claim.release()
    assert not path.exists()


def test_a_live_holder_keeps_its_claim(tmp_path):
    path = tmp_path / "ST.claim"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from sam_bench.jobs import lease; import sys; "
            f"c = lease.try_claim({str(path)!r}); print(bool(c), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,  # held open: the holder holds its claim until it is killed
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        assert lease.try_claim(path) is None
        assert lease.state(path)[1] is None
    finally:
        holder.kill()
        holder.wait()
    assert lease.try_claim(path) is not None  # killed: its claim is taken over


def _foreign(path: Path, job_id=None, age_s=0.0) -> None:
    """A claim made on another host (its process cannot be looked up from here)."""
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": None, "job_id": job_id, "token": "t"}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_a_claim_from_another_host_is_stale_only_when_its_heartbeat_stopped(tmp_path):
    path = tmp_path / "ST.claim"
    _foreign(path, age_s=60)
    assert lease.try_claim(path) is None
    _foreign(path, age_s=lease.STALE_AFTER_S + 60)
    assert "stopped its heartbeat" in lease.state(path)[1]
    assert lease.try_claim(path) is not None


def test_the_heartbeat_keeps_a_claim_fresh(tmp_path, monkeypatch):
    go = threading.Event()

    class OneBeat:  # the heartbeat's timer, stepped by the test: one beat once `go` is set, then stopped
        waits = 0

        def wait(self, timeout=None):
            self.waits += 1
            return self.waits > 1 or not go.wait()  # go.wait() is True: a beat is due the first time

        def set(self):
            pass

    monkeypatch.setattr(lease.Claim, "beat_timer", OneBeat)
    path = tmp_path / "ST.claim"
    claim = lease.try_claim(path)
    old = time.time() - 3600
    os.utime(path, (old, old))
    beat_allowed = time.time()
    go.set()
    claim._beat.join()  # its one beat, however late a busy machine runs it
    # stamped by that beat, not an hour ago (the file clock may lag time.time() by a tick: hence the second)
    assert path.stat().st_mtime >= beat_allowed - 1
    claim.release()


@pytest.mark.parametrize(
    ("state", "taken"),
    [("RUNNING", False), ("PENDING", False), ("COMPLETED", True), ("CANCELLED", True), ("TIMEOUT", True)],
)
def test_a_claim_of_another_hosts_job_follows_the_scheduler(tmp_path, monkeypatch, state, taken):
    monkeypatch.setattr(slurm_state, "job_state", lambda job_id: state)
    path = tmp_path / "ST.claim"
    _foreign(path, job_id="41_0")
    assert (lease.try_claim(path) is not None) is taken


def test_a_job_the_scheduler_forgot_waits_for_the_heartbeat_and_no_answer_is_no_evidence(tmp_path, monkeypatch):
    path = tmp_path / "ST.claim"
    monkeypatch.setattr(slurm_state, "job_state", lambda job_id: slurm_state.NOT_KNOWN)
    _foreign(path, job_id="41_0", age_s=60)
    assert lease.try_claim(path) is None
    _foreign(path, job_id="41_0", age_s=lease.STALE_AFTER_S + 60)

    def unreachable(job_id):
        raise slurm_state.SchedulerUnreachable("squeue: timed out")

    monkeypatch.setattr(slurm_state, "job_state", unreachable)
    assert lease.try_claim(path) is None
    monkeypatch.setattr(slurm_state, "job_state", lambda job_id: slurm_state.NOT_KNOWN)
    assert lease.try_claim(path) is not None


def test_a_requeued_job_takes_over_its_own_earlier_attempts_claim(tmp_path, monkeypatch):
    path = tmp_path / "ST.claim"
    monkeypatch.setattr(slurm_state, "job_state", lambda job_id: "RUNNING")
    _foreign(path, job_id="41_0")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    assert "earlier attempt" in lease.state(path)[1]
    assert lease.try_claim(path) is not None


def test_a_take_over_in_progress_is_left_alone(tmp_path):
    path = tmp_path / "ST.claim"
    _foreign(path, age_s=lease.STALE_AFTER_S + 60)
    (tmp_path / "ST.claim.takeover").write_text("{}")  # another process is taking it over now
    assert lease.try_claim(path) is None
    old = time.time() - lease.GUARD_STALE_S - 5  # ... or died doing it
    os.utime(tmp_path / "ST.claim.takeover", (old, old))
    assert lease.try_claim(path) is not None
    assert not (tmp_path / "ST.claim.takeover").exists()
