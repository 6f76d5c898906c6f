"""The relay's windows (README.md here), played end to end on this CPU by ops/remote-gpu/gpu_rehearsal.py: an
environment with exactly the GPU machine's packages, the device's limits on what a call carries and returns, each
machine's window (15 minutes) spent by its calls (each told the minutes left), the calls gpu_prepare.py makes,
two windows, unfinished runs carried from the first to the second in parts across a new session's checkout made
from git (their checkpoints kept in git), every run and results file recording the commit its window sent, and
`zoo verify` passing where it all lands. The environment is built beforehand (it needs the package index, which
CI's loopback-only namespace lacks): `python ops/remote-gpu/gpu_rehearsal.py --build-env` (.ci/run does)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
ENV = Path(os.environ.get("SAM_BENCH_GPU_ENV", Path.home() / ".cache" / "sam-bench" / "gpu-env"))


def test_the_gpu_runbook_rehearsed_on_this_cpu():
    if not (ENV / "bin" / "python").is_file():
        why = f"no GPU-like environment at {ENV} (python ops/remote-gpu/gpu_rehearsal.py --build-env)"
        if os.environ.get("SAM_BENCH_REQUIRE_REHEARSAL") == "1":
            pytest.fail(why + "; SAM_BENCH_REQUIRE_REHEARSAL=1 requires it")
        pytest.skip(why)
    proc = subprocess.run(
        [sys.executable, str(OPS / "gpu_rehearsal.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "rehearsal passed" in proc.stdout
    assert "records the commit its window sent" in proc.stdout
