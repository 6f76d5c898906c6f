"""A compiled run trains to the same weights whatever its process trained before (runtime/compile_cache.py's
compiled_afresh): cpu-decisive's AT run after SAM runs in one process came out other than in a fresh one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

TRAIN = """
import json, sys
sys.path.insert(0, {tests!r})
from tiny_training import tiny
from sam_bench.training.loop import train
shas = []
for i, method in enumerate({methods!r}):
    extra = dict(rho=0.1) if method == "sam" else dict(attack_eps="2/255", attack_steps=2)
    config = tiny(method=method, n_train=512, compile=True, **extra)
    meta = train(config, {out!r} + f"/{{i}}-{{method}}", progress=False)
    shas.append(meta["weights_sha256"])
print(json.dumps(shas))
"""


def trained(methods: list[str], out: Path) -> list[str]:
    """The weights' sha256 of tiny compiled runs of `methods`, trained in order in one fresh process."""
    code = TRAIN.format(tests=str(TESTS), methods=methods, out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_at_run_after_a_sam_run_in_one_process_equals_one_in_a_fresh_process(tmp_path):
    # two epochs of 8 steps: without dynamo's reset the AT run's weights differ here (its first epoch alone did not)
    after_sam = trained(["sam", "at"], tmp_path / "one-process")[1]
    alone = trained(["at"], tmp_path / "fresh")[0]
    assert after_sam == alone
