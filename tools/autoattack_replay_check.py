"""Whether AutoAttack's replayed first attacks (sam_bench/evaluation/autoattack_replay.py) give a faithful results
file's images their recorded outcomes here, and what the replay costs: every image of every AutoAttack evaluation
of each file measured on a CPU, replayed through the first attacks, compared image by image, including files from
another processor (which the spot check does not replay: this measures whether it could).

    python tools/autoattack_replay_check.py RESULTS.json [...] --out benchmarks/autoattack-replay.log
    python tools/autoattack_replay_check.py RESULTS.json [...] --in-a-check SEED --out ...  (in a spot check)

An image recorded robust survived the replayed attacks in the recorded run, so a faithful file has none that the
replay fools ("robust, fooled by the replay": 0 where the replay is exact). Where the evaluation ran no attack
beyond the replayed ones (a custom APGD-CE + APGD-T), the replay is the whole evaluation and every image must
agree. One JSON line per file: per evaluation the images, the differing counts, the seconds; where this ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def checked(path: Path, zoo_dir: str | None, data_dir: str | None) -> dict:
    import numpy as np
    import torch

    from sam_bench.evaluation import outcomes
    from sam_bench.evaluation.autoattack_replay import replayable, replayed_attacks, replayed_robust
    from sam_bench.evaluation.recheck import measured_data, named_weights, recorded_threads
    from sam_bench.evaluation.results_record import Results
    from sam_bench.runtime.memory_format import EVALUATION, place

    results = Results(json.loads(path.read_text()), path)
    net, _ = named_weights(path, results, zoo_dir, None)
    net = place(net, torch.device("cpu"), EVALUATION).eval()
    data = measured_data(path, results, data_dir)
    torch.set_num_threads(recorded_threads(results.environment) or torch.get_num_threads())
    rows = []
    for ev in results.evaluations:
        if ev.attack != "autoattack":
            continue
        if results.environment.get("device") != "cpu" or not (ev.chunks or {}).get("batch_size"):
            rows.append({"evaluation": f"{ev.norm} {ev.eps}", "replayed": None})
            continue
        recorded = outcomes.decode(ev.outcomes)
        started = time.time()
        left = replayed_robust(net, ev, data.x_test, data.y_test, np.arange(len(recorded)), results.search_math)
        whole = ev.settings["attacks"] == replayed_attacks(ev)
        rows.append(
            {
                "evaluation": f"{ev.norm} {ev.eps} ({ev.settings['version']}: {', '.join(ev.settings['attacks'])})",
                "replayed": replayed_attacks(ev),
                # what the spot check would do here: replay only where the kernels and processor are the recorded
                "replayed_by_the_spot_check_here": replayable(ev, results.environment, torch.device("cpu")),
                "images": len(recorded),
                "recorded_robust": int(recorded.sum()),
                "robust_fooled_by_the_replay": int((recorded & ~left).sum()),
                "the_replay_is_the_whole_evaluation": whole,
                "differing": int((recorded != left).sum()) if whole else None,
                "seconds": round(time.time() - started, 1),
            }
        )
    return {
        "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "evaluations": rows,
        "recorded_environment": {
            k: results.environment.get(k) for k in ("device", "cpu_threads", "cpu_isa", "cpu_model")
        },
    }


def in_a_check(path: Path, seed: int, data_dir: str | None) -> dict:
    """A spot check of the file (the check seed given), with what its AutoAttack replays did: per replay the
    images replayed, those it refuted and its seconds."""
    from sam_bench.evaluation import autoattack_replay, spot_check

    replays = []
    replay = autoattack_replay.replay

    def timed(*args, **kwargs):
        started = time.time()
        found = replay(*args, **kwargs)
        refuted = None if found is None else int((~found[0]).sum())
        replays.append({"images": len(args[6]), "refuted": refuted, "seconds": round(time.time() - started, 1)})
        return found

    autoattack_replay.replay = timed
    try:
        verdicts = list(spot_check.verdicts(path, data_dir=data_dir, seed=seed))
    finally:
        autoattack_replay.replay = replay
    return {
        "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "check_seed": seed,
        "autoattack": [
            {
                "evaluation": v.evaluation,
                "strata": [{"sampled": s.sampled, "differing": s.differing, "refuted": s.refuted} for s in v.strata],
            }
            for v in verdicts
            if v.rerun.startswith("autoattack")
        ],
        "replays": replays,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--zoo-dir")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path, help="append the JSON lines here as well")
    parser.add_argument(
        "--in-a-check",
        type=int,
        metavar="SEED",
        help="instead: a spot check of each file from this check seed, with what its replays did",
    )
    args = parser.parse_args()
    import torch

    from sam_bench.runtime.provenance import cpu_model

    where = {
        "torch": torch.__version__,
        "cpu": cpu_model() or platform.processor(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "load_average": os.getloadavg(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
    }
    for path in args.results:
        if args.in_a_check is not None:
            found = in_a_check(path.resolve(), args.in_a_check, args.data_dir)
        else:
            found = checked(path.resolve(), args.zoo_dir, args.data_dir)
        line = json.dumps({**found, "where": where})
        print(line, flush=True)
        if args.out is not None:
            with args.out.open("a") as out:
                out.write(line + "\n")


if __name__ == "__main__":
    main()
