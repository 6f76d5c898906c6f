"""The sha256 of every results file in the repository's tree, written to sam_bench/evaluation/recorded_before.sha256
once, at the change that introduced per-image draws (sam_bench/attacks/draws.py): the files recorded before them.
The spot check keys the rules that fit them to this list, never to a field of a file
(sam_bench/evaluation/check_rules.py); results recorded since carry `settings.draws` on every attack that draws.

    python tools/recorded_before.py            # write the list from `git ls-files`
    python tools/recorded_before.py --check    # exit 1 naming each tracked results file that records an attack
                                               # without per-image draws and is not listed
    python tools/recorded_before.py --checks   # write recorded_before_checks.json: what a check of each listed
                                               # file refuses (sam_bench/evaluation/check_statement.py)

--checks reads the faithful rates each kind of listed file was measured at from the logs in RATES (per evaluation
where the log measured that evaluation of that file on at least MIN_IMAGES images of the stratum, else pooled over
the log) and computes, for every evaluation of every listed file, the smallest change in whole points the rule that
fits it refuses in >= 99% of checks (check_power.smallest_refused_change), the check run on a CPU that cannot replay
the recording exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tracked_results() -> dict[str, tuple[str, bool]]:
    """{path: (sha256, whether an attack of it that draws records no per-image draws)} of every tracked results
    file."""
    from sam_bench.attacks.draws import keyed
    from sam_bench.evaluation.results_file import is_results

    tracked = subprocess.run(["git", "ls-files", "*.json"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = {}
    for name in tracked.stdout.splitlines():
        data = (ROOT / name).read_bytes()
        try:
            results = json.loads(data)
        except ValueError:
            continue
        if not is_results(results):
            continue
        drawing = [e for e in results.get("evaluations") or [] if e.get("attack") in ("pgd", "autoattack")]
        found[name] = (hashlib.sha256(data).hexdigest(), not all(keyed(e.get("settings") or {}) for e in drawing))
    return found


# The measured faithful rates of each kind of listed file: (log, kind, where it was recorded, what is counted as
# differing among images recorded robust and among those recorded fooled, per try)
RATES = {
    "pgd on cuda": ("benchmarks/gpu-cpu-tolerance.log", "differing", "differing"),
    "pgd on cuda, its draws replayed": ("benchmarks/gpu-cpu-replayed-tolerance.log", "differing", "differing"),
    "autoattack on cuda": ("benchmarks/gpu-cpu-autoattack-tolerance.log", "differing", "differing at the first try"),
    "autoattack on cpu": ("benchmarks/autoattack-tolerance.log", "differing", "differing"),
    "clean on cuda": ("benchmarks/gpu-cpu-clean-tolerance.log", "recorded correct", "recorded wrong"),
}
MIN_IMAGES = 64  # a stratum measured on fewer images of one evaluation takes its log's pooled rate
REPLAYED = "pgd on cuda, its draws replayed"  # the kind whose rule holds each evaluation to its own rates


def _counts(record: dict, robust_key: str, fooled_key: str) -> list[int]:
    """[differing robust, sampled robust, differing fooled, sampled fooled] of one log record."""
    if "runs" in record:
        runs = record["runs"]
        return [
            sum(r[robust_key]["recorded robust"] for r in runs),
            sum(r["sampled"]["recorded robust"] for r in runs),
            sum(r.get(fooled_key, r["differing"])["recorded fooled"] for r in runs),
            sum(r["sampled"]["recorded fooled"] for r in runs),
        ]
    strata = record["strata"]
    return [
        strata[robust_key]["differing"],
        strata[robust_key]["images"],
        strata[fooled_key]["differing"],
        strata[fooled_key]["images"],
    ]


def rates() -> dict:
    """{kind: {"log", "by evaluation": {"<results file> <evaluation>": counts}, "pooled": counts}} from RATES."""
    found = {}
    for name, (log, robust_key, fooled_key) in RATES.items():
        by = {}
        for line in (ROOT / log).read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                key = f"{record['results']} {record['evaluation']}"
                counts = _counts(record, robust_key, fooled_key)
                by[key] = [a + b for a, b in zip(by.get(key, [0, 0, 0, 0]), counts)]
        pooled = [sum(c[i] for c in by.values()) for i in range(4)]
        found[name] = {"log": log, "by evaluation": by, "pooled": pooled}
    return found


def replay_chances(measured: dict) -> dict:
    """{sha256: {evaluation: [recorded robust, recorded fooled]}}: the most a faithful image of each stratum of each
    measured evaluation of a listed GPU file differs from its re-run on a CPU from the GPU's replayed draws, as the
    99% upper bound (rounded up to 0.01%) of a measured rate: the stratum's own where it sampled at least
    MIN_IMAGES images; else that of every such smaller stratum pooled, the few images a large budget leaves robust,
    which sit at its edge and differ most (sam_bench/evaluation/recorded_before.py: `replay_chances`)."""
    import math

    from scipy.stats import beta

    from sam_bench.evaluation.recorded_before import listed

    def bound(k: int, m: int) -> float:
        return 1.0 if k >= m else math.ceil(float(beta.ppf(0.99, k + 1, m - k)) * 1e4) / 1e4

    sha_of = {path: sha for sha, path in listed().items()}
    by = measured[REPLAYED]["by evaluation"]
    strata = [(c[i], c[i + 1]) for c in by.values() for i in (0, 2)]
    small = [s for s in strata if s[1] < MIN_IMAGES] or strata
    edge = bound(sum(k for k, _ in small), sum(m for _, m in small))
    found: dict = {}
    for key, counts in by.items():
        path, evaluation = key.split(" ", 1)
        chances = [
            bound(k, m) if m >= MIN_IMAGES else edge for k, m in ((counts[0], counts[1]), (counts[2], counts[3]))
        ]
        found.setdefault(sha_of[path], {})[evaluation] = chances
    return found


def _rate(measured: dict, path: str, evaluation: str) -> tuple[float, float]:
    """(robust, fooled) faithful rates of one evaluation: its own measurement per stratum where it has enough
    images, else the pooled one."""
    own = measured["by evaluation"].get(f"{path} {evaluation}", [0, 0, 0, 0])
    pooled = measured["pooled"]
    robust = own[:2] if own[1] >= MIN_IMAGES else pooled[:2]
    fooled = own[2:] if own[3] >= MIN_IMAGES else pooled[2:]
    return robust[0] / max(1, robust[1]), fooled[0] / max(1, fooled[1])


def checks(measured: dict, only: set[str] | None = None) -> dict:
    """{sha256: {evaluation: smallest change refused in >= 99% of checks, or None}} of every listed file (`only`:
    of those with these sha256)."""
    import numpy as np

    from sam_bench.evaluation import check_power, check_rules, outcomes
    from sam_bench.evaluation.recheck import label
    from sam_bench.evaluation.recorded_before import listed
    from sam_bench.evaluation.results_record import Results

    anywhere = check_rules.Here("cpu", None, None, "")  # a CPU that cannot replay the recording exactly
    found = {}
    for sha, path in sorted(listed().items(), key=lambda item: item[1]):
        if only is not None and sha not in only:
            continue
        results = Results.read(ROOT / path)
        env = results.environment
        clean = outcomes.decode(results.clean_outcomes)
        changes = {}
        for ev in results.evaluations:
            rule = check_rules.rule(ev, env, sha, anywhere)
            name = label(ev)
            if rule.exact or check_rules.remeasure(ev.attack).own is not None:
                changes[name] = 1  # compared image by image: any differing image refuses
                continue
            kind = f"{'clean' if ev.attack == 'clean' else ev.attack} on {env.get('device')}"
            kind += ", its draws replayed" if rule.chunk_starts else ""
            recorded = clean if ev.attack == "clean" else outcomes.decode(ev.outcomes)
            eligible = np.ones(len(recorded), bool) if ev.attack == "clean" else clean[: len(recorded)]
            robust, fooled = int((recorded & eligible).sum()), int((~recorded & eligible).sum())
            changes[name] = check_power.smallest_refused_change(
                len(recorded),
                robust,
                fooled,
                rule.chances,
                _rate(measured[kind], path, name),
                sizes=rule.sizes(),
                retries=rule.retries,
            )
        found[sha] = changes
    return found


def main() -> None:
    from sam_bench import files
    from sam_bench.evaluation.check_statement import CHECKS
    from sam_bench.evaluation.recorded_before import LIST, listed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--checks", action="store_true")
    args = parser.parse_args()
    if args.checks:
        from sam_bench.evaluation.check_statement import recorded

        measured = rates()
        record = {"tool": "tools/recorded_before.py --checks", "rates": measured}
        record["replay chances"] = replay_chances(measured)
        files.write_json(CHECKS, {**record, "files": {}})  # the rules of replayed GPU files read their chances here
        recorded.cache_clear()
        files.write_json(CHECKS, {**record, "files": checks(measured)})
        print(f"wrote {CHECKS}")
        return
    found = tracked_results()
    if args.check:
        missing = [name for name, (sha, unkeyed) in found.items() if unkeyed and sha not in listed()]
        for name in missing:
            print(f"{name}: records no per-image draws and is not in {LIST.name}", file=sys.stderr)
        raise SystemExit(1 if missing else 0)
    lines = ["# sha256  path: results files recorded before per-image draws (tools/recorded_before.py)"]
    lines += [f"{sha}  {name}" for name, (sha, _) in sorted(found.items())]
    files.write_text(LIST, "\n".join(lines) + "\n")
    print(f"wrote {LIST}: {len(found)} files")


if __name__ == "__main__":
    main()
