"""How far a faithful re-run of a results file disagrees with it, image by image, as the spot check re-runs it
(sam_bench/evaluation/spot_check.py): every clean-correct image of every evaluation of each file, both strata,
from the recorded seeds (PGD's random starts replayed chunk by chunk, batch by batch), at the recorded CPU thread
count and at others; and what a full clean pass of a full-width PreActResNet-18 costs on 10,000 images here.

    python tools/spot_check_tolerance.py RESULTS.json [...] --threads 1,2 --clean-cost --out benchmarks/X.json

One JSON record per file and thread count (each evaluation's images measured and differing per stratum, seconds),
the clean-pass cost, and where this ran (torch, threads, load average). Without --autoattack, AutoAttack
evaluations are measured from a copy of the file without them (a standard AutoAttack of every image costs as much
as the evaluation itself): their re-run cannot replay the recorded random starts, and the spot check holds them to a
stated chance instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def without_autoattack(path: Path, work: Path) -> Path:
    """A copy of a results file without its AutoAttack evaluations (every figure left agrees with its outcomes)."""
    from sam_bench import files

    data = files.read_json(path)
    data["evaluations"] = [e for e in data["evaluations"] if e["attack"] != "autoattack"]
    data["robustbench"] = None
    files.write_json(work / path.name, data)
    return work / path.name


def measured(path: Path, threads: int, zoo_dir: str | None, autoattack: bool = False) -> dict:
    import tempfile

    from sam_bench.evaluation import spot_check

    started, rows = time.time(), []
    copy = path if autoattack else without_autoattack(path, Path(tempfile.mkdtemp()))
    for verdict in spot_check.verdicts(copy, zoo_dir=zoo_dir, every_image=True, threads=threads, seed=0):
        rows.append(
            {
                "evaluation": verdict.evaluation,
                "replayed": verdict.replayed,
                "strata": [
                    {
                        "recorded": "correct" if s.recorded_correct else "wrong",
                        "images": s.sampled,
                        "differing": s.differing,
                    }
                    for s in verdict.strata
                ],
            }
        )
    return {"results": str(path), "threads": threads, "evaluations": rows, "seconds": round(time.time() - started, 1)}


def clean_cost(images: int) -> dict:
    """Seconds of one full clean pass of a full-width PreActResNet-18 (random weights: the cost is the same) on
    `images` CIFAR-10-shaped images in batches of 250, one thread."""
    import torch

    from sam_bench.attacks.autoattack import predict
    from sam_bench.models import create_model, make_spec

    torch.set_num_threads(1)
    net = create_model(make_spec("preactresnet18", 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))).eval()
    x = torch.rand(images, 3, 32, 32)
    started, cpu = time.time(), time.process_time()
    with torch.no_grad():
        predict(net, x, 250)
    return {
        "images": images,
        "seconds": round(time.time() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "threads": 1,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    import json

    import torch

    from sam_bench import files
    from sam_bench.runtime.provenance import cpu_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--autoattack", action="store_true", help="keep AutoAttack evaluations (small files only)")
    parser.add_argument("--clean-cost", type=int, default=0, metavar="IMAGES")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = []
    for path in args.results:
        for threads in [int(t) for t in args.threads.split(",")]:
            record = measured(path, threads, args.zoo_dir, args.autoattack)
            print(json.dumps(record), flush=True)
            records.append(record)
    out = {
        "tool": "tools/spot_check_tolerance.py",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),  # the kernels' instruction set: the recorded one may differ
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "files": records,
        "differing_images": sum(s["differing"] for r in records for e in r["evaluations"] for s in e["strata"]),
        "images_measured": sum(s["images"] for r in records for e in r["evaluations"] for s in e["strata"]),
    }
    if args.clean_cost:
        out["clean_pass"] = clean_cost(args.clean_cost)
        print(json.dumps(out["clean_pass"]), flush=True)
    files.write_json(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
