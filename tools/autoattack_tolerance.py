"""How far faithful re-runs of an evaluation whose random draws the spot check cannot replay disagree with its
results file, image by image, as the spot check re-runs it (sam_bench/evaluation/spot_check.py: AutoAttack's
labelled version with its full attack list and the recorded seed; any attack of a file measured on a GPU, checked
on this CPU; `--device cuda` re-runs it on a GPU), on a sample of the clean-correct images drawn from both strata,
the sampled images in one batch.

    python tools/autoattack_tolerance.py RESULTS.json --evaluation "autoattack Linf 1/255" --images 16 --runs 3 \
        --data-dir DIR --out benchmarks/autoattack-tolerance.log

Every attack of AutoAttack reseeds from the recorded seed at each batch, so a re-run is deterministic for a given
batch; but its random starts are drawn for the whole batch and each attack runs only on the images the ones before
it left robust, so an image's draws depend on which images share its batch, and a re-run on a sample cannot replay
the recorded ones. The spot check holds each stratum to a chance instead (`Remeasure.chance`, the attack table);
this measures it: each of `--runs` fresh samples (sample seeds `--sample-seed`, +1, ...) of `--images` images the
file records robust and as many it records fooled (`--fooled-images`) counts the images whose outcome differs from the
file, at the first try and after the spot check's retries of the images recorded fooled. Appends one
JSON record (with the command, the CPU, threads and load average) to `--out`. `--replay-draws` starts PGD of a file
recorded before per-image draws from the draws its chunks made, as the spot check replays them (a GPU's too, where
sam_bench/evaluation/cuda_draws.py computes them): what differs then is arithmetic alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(
    path: Path,
    name: str,
    images: int,
    runs: int,
    sample_seed: int,
    threads: int,
    data_dir=None,
    fooled_images=None,
    device: str = "cpu",
    replay_draws: bool = False,
) -> dict:
    import numpy as np
    import torch

    from sam_bench.evaluation import check_model, cuda_draws, outcomes, pgd_replay, results_file, spot_check
    from sam_bench.evaluation.recheck import label, measured_data, named_weights
    from sam_bench.evaluation.results_record import Results
    from sam_bench.runtime.memory_format import EVALUATION, place
    from sam_bench.runtime.provenance import resolve_device

    torch.set_num_threads(threads)
    results = Results(results_file.read(path), path)
    evaluation = next((e for e in results.evaluations if label(e) == name), None)
    if evaluation is None:
        raise SystemExit(f"{path}: no evaluation {name!r}; it has {', '.join(label(e) for e in results.evaluations)}")
    net, _ = named_weights(path, results, None, None)
    data = measured_data(path, results, data_dir)
    where = resolve_device(device)
    model = check_model.CheckedModel(place(net, where, EVALUATION).eval(), where, results.search_math)
    clean_record = results.evaluation("clean")
    clean = outcomes.decode(clean_record.outcomes)
    recorded = outcomes.decode(evaluation.outcomes)
    eligible = clean[: len(recorded)]
    robust_pool, fooled_pool = np.flatnonzero(eligible & recorded), np.flatnonzero(eligible & ~recorded)
    spec, _ = spot_check.check_labels(path, evaluation)
    rows = []
    for run in range(runs):
        rng = np.random.default_rng(sample_seed + run)
        sizes = (images, images if fooled_images is None else fooled_images)
        parts = [
            np.sort(rng.choice(pool, min(size, len(pool)), replace=False))
            for pool, size in zip((robust_pool, fooled_pool), sizes)
        ]
        union = np.sort(np.concatenate(parts))
        x, y = check_model.images(data, union)
        started = time.time()
        attack = None
        if replay_draws:  # the recorded run's chunk draws, as the spot check replays a file recorded before per-image
            gpu = cuda_draws.gpu_of(results.environment)
            attack = pgd_replay.replayed_attack(evaluation, clean, union, (x.shape[3], *x.shape[1:3]), gpu)  # NHWC
        now = model.outcome(spec, x, y, seed=run, attack=attack)[0]
        first = now.copy()
        # as the spot check does: an image recorded fooled that the re-run left correct is attacked again from other
        # seeds of the attack, and agrees with its record once any try fools it
        retries = spot_check.remeasure(evaluation.attack).retries
        now = check_model.retried(model, spec, (x, y), recorded[union], now, retries, run)
        row = {"sample_seed": sample_seed + run}
        row["sampled"] = {"recorded robust": len(parts[0]), "recorded fooled": len(parts[1])}
        for key, outcome in (("differing at the first try", first), ("differing", now)):
            row[key] = {
                stratum: int((outcome[np.searchsorted(union, p)] != recorded[p]).sum())
                for stratum, p in zip(("recorded robust", "recorded fooled"), parts)
            }
        row["differing images"] = [int(i) for i in union[now != recorded[union]]]
        row["seconds"] = round(time.time() - started, 1)
        rows.append(row)
    return {
        "results": str(path),
        "evaluation": name,
        "device": torch.cuda.get_device_name(where) if where.type == "cuda" else "cpu",
        "attacks": list(evaluation.settings.get("attacks") or [evaluation.attack]),
        "draws": "the recorded run's, replayed" if replay_draws else "fresh",
        "runs": rows,
        "differing": sum(sum(r["differing"].values()) for r in rows),
        "sampled": sum(sum(r["sampled"].values()) for r in rows),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--evaluation", required=True, help="as the spot check names it: 'autoattack Linf 1/255'")
    parser.add_argument("--images", type=int, default=16, help="images drawn from each stratum")
    parser.add_argument(
        "--fooled-images", type=int, help="images drawn from those recorded fooled, where not --images: they cost less"
    )
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--device", default="cpu", help="where to re-run: cuda re-runs a GPU's file on the recording kind of device"
    )
    parser.add_argument(
        "--replay-draws",
        action="store_true",
        help="PGD of a file recorded before per-image draws: replay its chunks' draws (a GPU's too: cuda_draws.py)",
    )
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import torch

    from sam_bench.errors import SamBenchError

    started = time.time()
    try:
        record = measure(
            args.results,
            args.evaluation,
            args.images,
            args.runs,
            args.sample_seed,
            args.threads,
            args.data_dir,
            args.fooled_images,
            args.device,
            args.replay_draws,
        )
    except SamBenchError as error:
        raise SystemExit(f"error: {error}") from None
    record.update(
        {
            "command": shlex.join(["python", "tools/autoattack_tolerance.py", *(argv or sys.argv[1:])]),
            "threads": args.threads,
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "load_average": [round(v, 1) for v in os.getloadavg()],
            "seconds": round(time.time() - started, 1),
        }
    )
    with open(args.out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
