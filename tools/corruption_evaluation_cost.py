"""What a corruptions evaluation costs on this CPU, per 1,000 test images of the 75 corruptions and severities:
`sam-bench evaluate MODEL --threat-model corruptions` run once on one thread, its log (the command, the machine, the
load average before and after, the seconds its results file records and the command's wall time) written to
benchmarks/cpu-corruptions-evaluate.log, and its sentence into docs/evaluation.md between the markers
`corruptions-evaluate-cost start` / `end`, so that no one types the figure.

    python tools/corruption_evaluation_cost.py [--model ZOO_ID] [--images N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "benchmarks" / "cpu-corruptions-evaluate.log"
DOC = ROOT / "docs" / "evaluation.md"
START, END = "<!-- corruptions-evaluate-cost start -->", "<!-- corruptions-evaluate-cost end -->"
SET = "cifar10-sample-c-generated"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="SamBench2026SAM_PRN18-w0.125_rho0.1_3d455f92")
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "corruptions.json"
    command = [
        sys.executable, "-m", "sam_bench", "evaluate", args.model, "--threat-model", "corruptions",
        "--corruption-set", SET, "--n-examples", str(args.images), "--device", "cpu", "--out", str(out), "--quiet",
    ]  # fmt: skip
    before, started = load(), time.time()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall, after = time.time() - started, load()
    results = json.loads(out.read_text())
    entry = results["evaluations"][0]
    n, seconds = entry["n_examples"], entry["seconds"]
    env = results["environment"]
    lines = [
        f"# {datetime.now(timezone.utc).isoformat(timespec='seconds')}: python tools/corruption_evaluation_cost.py "
        f"--model {args.model} --images {args.images}",
        "command: OMP_NUM_THREADS=1 python " + " ".join(command[1:]),
        f"machine: {os.cpu_count()} cores, {env.get('cpu_model')}; {env['device_name']}; torch {env['torch_version']}",
        f"load average before: {before}; after: {after}",
        f"images: {n} per set, 75 sets ({75 * n:,} corrupted images classified); mean accuracy "
        f"{100 * entry['robust_acc']:.2f}%, clean {100 * results['clean_acc']:.2f}%",
        f"corruption pass (the seconds its results file records): {seconds:.1f} s = "
        f"{1000 * seconds / n:.0f} s per 1,000 images of the 75 sets",
        f"whole command (loading, clean pass, writing): {wall:.1f} s = {1000 * wall / n:.0f} s per 1,000 images",
    ]
    LOG.write_text("\n".join(lines) + "\n")
    sentence = (
        f"Measured on this project's 2-core CPU (`python tools/corruption_evaluation_cost.py`, its log "
        f"`benchmarks/cpu-corruptions-evaluate.log`): {1000 * seconds / n:.0f} s per 1,000 test images of the 75 "
        f"sets on one thread (PreActResNet-18 at width 0.125, {n} images of `{SET}`, each corrupted image made on the "
        f"fly), {1000 * wall / n:.0f} s with the command's loading, clean pass and writing; the load average was "
        f"{before} before and {after} after, so a busier machine takes longer."
    )
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{sentence}\n{END}{tail}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
