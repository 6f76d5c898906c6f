"""What the SLURM scheduler says about a job: `squeue` for pending or running jobs, `sacct` for ended ones. Both are
commands asked with a time limit, so that a half-up scheduler leaves a question unanswered rather than a process hung.
"""

from __future__ import annotations

import os
import subprocess

# SLURM states in which a job may still run its cell. SLURM's own UNKNOWN is not among them: a job
# the scheduler cannot place is judged by whether a process still holds the cell's claim.
LIVE_STATES = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
}

NOT_KNOWN = "NOT_KNOWN"  # neither squeue nor sacct knows the job (purged, or never existed)


class SchedulerUnreachable(Exception):
    """squeue failed for another reason than an unknown job id: no answer about the job."""


def _ask(command: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SchedulerUnreachable(f"{command[0]}: {err}") from None


def job_state(job_id: str) -> str:
    """The job's state in SLURM's words (RUNNING, COMPLETED, CANCELLED ...), or NOT_KNOWN.
    Raises SchedulerUnreachable when squeue itself cannot answer."""
    queued = _ask(["squeue", "-h", "-j", str(job_id), "-o", "%T"])
    if queued.returncode == 0 and queued.stdout.strip():
        return queued.stdout.split()[0]
    if queued.returncode != 0 and "invalid job id" not in queued.stderr.lower():
        raise SchedulerUnreachable(f"squeue: {queued.stderr.strip() or queued.returncode}")
    # ended, or never known: the accounting's last record of it (a requeued job has one per attempt)
    accounted = _ask(["sacct", "-n", "-X", "-P", "-j", str(job_id), "-o", "State"])
    states = [line.split()[0] for line in accounted.stdout.splitlines() if line.strip()]
    return states[-1] if accounted.returncode == 0 and states else NOT_KNOWN


def this_job() -> str | None:
    """This process's SLURM job as `reproduce` records it (array task: ARRAY_TASK), or None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")
