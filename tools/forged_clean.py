"""How often `sam-bench verify` refuses a results file whose clean accuracy was edited by a point (or `--points`), tried
as a forger would: a copy of a committed results file with that share of its images moved from wrong to right (or
back), clean_acc and per-class accuracy re-derived, its attacks left out so that only the clean pass is checked.
Each try is a fresh copy and a fresh check seed; the copy sits beside the original (so it names the same run) and
is removed after its check.

    python tools/forged_clean.py reproductions/paper-cifar10-full/results/ST-e86973c015.json --tries 20 \\
        --data-dir DIR --log benchmarks/forged-gpu-clean.log [--points 0.5]

Appends one JSON line per try to `--log`: the edit, verify's exit status and verdict (a passed check's strata too:
how many images of each it sampled and found differing), the command, the CPU, seconds.

    python tools/forged_clean.py --summary benchmarks/forged-gpu-clean.log

prints, per edit, how many tries were refused beside the check's computed power for it (check_power at the sample
the file's rule draws on this machine): what was measured against what the sample sizes promise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_bench import files  # noqa: E402
from sam_bench.data import load_dataset  # noqa: E402
from sam_bench.evaluation import check_power, check_rules, outcomes, per_class  # noqa: E402
from sam_bench.evaluation.recorded_before import listed  # noqa: E402
from sam_bench.evaluation.results_record import Results  # noqa: E402
from sam_bench.runtime.provenance import cpu_model  # noqa: E402


def forged(results: dict, labels: np.ndarray, up: bool, rng: np.random.Generator, points: float = 1.0) -> dict:
    """`results` with its clean evaluation alone and `points` points of its images moved to right (up) or to wrong."""
    clean = outcomes.decode(results["clean_outcomes"])
    clean[rng.choice(np.flatnonzero(clean != up), round(len(clean) * points / 100), replace=False)] = up
    acc = float(clean.mean())
    encoded = outcomes.encode(clean)
    (ev,) = [e for e in results["evaluations"] if e["attack"] == "clean"]
    ev.update(outcomes=encoded, clean_acc=acc, robust_acc=acc)
    ev["per_class_robust_acc"] = per_class.accuracies(clean, labels[: len(clean)], 10)  # CIFAR-10
    return {**results, "clean_outcomes": encoded, "clean_acc": acc, "evaluations": [ev]}


def power(path: Path, points: float, up: bool, faithful_differ: bool = True) -> float:
    """The computed chance that a check on this machine refuses `path` edited by `points` up or down: the edited
    stratum's sample as the file's clean rule sizes it (the first batch, always measured, and a sample of the rest),
    moved images always differing, faithful ones at the rule's chance (as the sample is sized), or never
    (`faithful_differ` False: what the measured 0 of 20,928 suggests, and a little less power)."""
    results = Results(json.loads(path.read_text()), path)
    clean = outcomes.decode(results["clean_outcomes"])
    evaluation = results.evaluation("clean")
    assert evaluation is not None
    here = check_rules.Here.now(torch.device("cpu"))
    sha = files.sha256_file(path)
    rule = check_rules.rule(evaluation, results.environment, sha if sha in listed() else None, here)
    n, k, side = len(clean), round(len(clean) * points / 100), 0 if up else 1
    stratum = int(clean.sum()) + k if up else int((~clean).sum()) + k
    batch = (evaluation.chunks or {}).get("batch_size") or 250
    first = int(clean[:batch].sum()) if up else int((~clean[:batch]).sum())
    m = first + rule.sizes()[side](stratum - first, n)
    chance = rule.chances[side]
    rate = chance if faithful_differ else 0.0
    return check_power.refusal_probability(stratum, k, m, chance, rate, 1 - rule.chances[1 - side])


def summary(log: Path) -> None:
    """Per results file and edit: tries refused of tries, and the computed power (faithful images never differing
    to differing at the rule's chance); then per edit over all files: refused of tries, and how many the computed
    powers expect."""
    tries: dict[tuple[str, str], list[int]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        tries.setdefault((entry["results"], entry["edit"]), []).append(entry["exit"])
    pooled: dict[str, tuple[int, int, float, float]] = {}
    for (results, edit), exits in sorted(tries.items(), key=lambda item: (-abs(float(item[0][1].split()[0])), item)):
        points, up = abs(float(edit.split()[0])), edit.startswith("+")
        low, high = (power(ROOT / results, points, up, faithful) for faithful in (False, True))
        refused, n = exits.count(1), len(exits)
        print(f"{edit:>11}  {Path(results).name:<24} refused {refused} of {n}  computed {low:.1%}-{high:.1%}")
        before = pooled.get(edit, (0, 0, 0.0, 0.0))
        pooled[edit] = (before[0] + refused, before[1] + n, before[2] + low * n, before[3] + high * n)
    for edit, (refused, n, low, high) in pooled.items():
        print(f"{edit:>11}  all files                refused {refused} of {n}  expected {low:.1f}-{high:.1f}")


def main() -> None:
    if sys.argv[1:2] == ["--summary"]:
        if len(sys.argv) != 3 or not Path(sys.argv[2]).is_file():
            raise SystemExit("usage: tools/forged_clean.py --summary LOG (a log this tool wrote)")
        return summary(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--tries", type=int, default=10, help="alternately up and down")
    parser.add_argument("--points", type=float, default=1.0, help="the edit's size in points of accuracy")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    labels = load_dataset(json.loads(args.results.read_text())["dataset"]["name"], data_dir=args.data_dir).y_test
    rng = np.random.default_rng()
    for i in range(args.tries):
        up = i % 2 == 0
        copy = args.results.with_name(f"forged-clean-{os.getpid()}-{i}.json")
        copy.write_text(json.dumps(forged(json.loads(args.results.read_text()), labels, up, rng, args.points)))
        verdicts = copy.with_suffix(".verdicts.json")  # a passed check's strata: sampled and differing images
        verify = ["sam-bench", "verify", str(copy), "--threads", "1", "--quiet", "--data-dir", args.data_dir]
        start = time.time()
        try:
            run = subprocess.run(
                [*verify, "--out", str(verdicts)],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            record = json.loads(verdicts.read_text()) if verdicts.exists() else {"checked": []}
            passed = [e["strata"] for c in record["checked"] for e in c["evaluations"]]
        finally:
            copy.unlink()
            verdicts.unlink(missing_ok=True)
        refusals = [line for line in run.stderr.splitlines() if line.startswith("refused:")]
        line = {
            "results": str(args.results),
            "edit": f"{'+' if up else '-'}{args.points:g} point",
            "exit": run.returncode,
            "verdict": (refusals or run.stdout.strip().splitlines() or run.stderr.strip().splitlines() or [""])[-1],
            "strata": passed[0] if passed else None,
            "command": shlex.join([sys.executable, *sys.argv]),
            "checked on": {"cpu_model": cpu_model(), "machine": platform.machine(), "threads": 1},
            "seconds": round(time.time() - start, 1),
        }
        with args.log.open("a") as log:
            log.write(json.dumps(line) + "\n")
        print(f"{i + 1}/{args.tries} {line['edit']}: exit {run.returncode}", flush=True)


if __name__ == "__main__":
    main()
