"""A compiled run trains to the same weights whatever its process trained before (runtime/compile_cache.py's
compiled_afresh): cpu-decisive's AT run after SAM runs in one process came out other than in a fresh one. And
a run recorded that way comes back only with that history replayed (tools/retrain_after.py). One test for
both: they share their compiled runs (each compiled run in a fresh process costs tens of seconds here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TOOLS = TESTS.parent / "tools"

# One process, compiled runs of the same settings: SAM then AT as the runs trained before dynamo was reset
# before each run (as cpu-decisive's AT-Linf-2 seed 1 was recorded), then AT again as training compiles now
RECORD = """
import json, sys
sys.path.insert(0, {tests!r}); sys.path.insert(0, {tools!r})
from tiny_training import tiny
from first_epoch import compiled_as_recorded
from sam_bench.training.loop import train
sam = tiny(method="sam", rho=0.1, n_train=512, compile=True)
at = tiny(method="at", attack_eps="2/255", attack_steps=2, n_train=512, compile=True)
with compiled_as_recorded():
    train(sam, {sam_run!r}, progress=False)
    recorded = train(at, {at_run!r}, progress=False)["weights_sha256"]
now = train(at, {at_now!r}, progress=False)["weights_sha256"]
print(json.dumps([recorded, now]))
"""


def retrained(at_run: Path, into: Path, *after: Path) -> dict:
    """tools/retrain_after.py in a fresh process, as the lanes run it: `at_run` trained again after `after`."""
    args = [str(at_run), "--into", str(into), "--work", str(into.parent / "work" / into.name)]
    args += [f"--after={run}" for run in after]
    done = subprocess.run([sys.executable, str(TOOLS / "retrain_after.py"), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_at_run_after_a_sam_run_equals_a_fresh_one_and_the_old_history_comes_back_only_replayed(tmp_path):
    # two epochs of 8 steps: without dynamo's reset the AT run's weights differ here (its first epoch alone did not)
    sam_run, at_run = tmp_path / "decisive" / "runs" / "SAM-0.1-x", tmp_path / "decisive" / "runs" / "AT-y"
    code = RECORD.format(
        tests=str(TESTS), tools=str(TOOLS), sam_run=str(sam_run), at_run=str(at_run), at_now=str(tmp_path / "AT-now")
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    recorded, after_sam_and_at = json.loads(proc.stdout.strip().splitlines()[-1])

    fresh = retrained(at_run, tmp_path / "fresh")  # the AT run alone in a fresh process
    assert fresh["recorded_weights_sha256"] == recorded
    assert after_sam_and_at == fresh["weights_sha256"]  # training now: what the process trained before does not count
    assert fresh["weights_sha256"] != recorded  # the recorded run's history did count
    replayed = retrained(at_run, tmp_path / "replayed", sam_run)
    assert replayed["weights_sha256"] == recorded  # and comes back once replayed
