"""Corruptions throughput: images/s of the corruption pass, the corruption itself included, beside the clean
pass's on the same model, images and thread, timed in alternating rounds (medians; each round's ratio); the
target and the figures in docs/benchmarks.md. Within a round each corruption's five passes follow five clean
passes, so that on a shared machine both meet the same load; each corruption's share of a round's seconds names
the slow ones.

    python -m sam_bench.bench.corruption_throughput --out benchmarks/cpu-corruptions.json \\
        --write-into docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sam_bench import files
from sam_bench.attacks.autoattack import predict
from sam_bench.bench import marked_block
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import load_corruption_set
from sam_bench.data import STATS
from sam_bench.evaluation.batching import CPU_BATCH, CPU_CHUNK
from sam_bench.evaluation.evaluate import to_float
from sam_bench.models import create_model, make_spec
from sam_bench.runtime import math_mode
from sam_bench.runtime.provenance import environment

TARGET_RATIO = 1.5  # the clean pass's images/s over the corruption pass's, at most
MARKERS = ("<!-- corruptions-throughput start -->", "<!-- corruptions-throughput end -->")


@math_mode.ieee_fp32()
def measure(images: int = 250, rounds: int = 3, width: float = 0.125, threads: int = 1, seed: int = 0) -> dict:
    """75 clean and 75 corruption passes over the bundled sample's first `images` test images per round,
    interleaved by corruption, after untimed first calls of both; PreActResNet-18 at `width` (its weights do
    not change the time)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = create_model(make_spec("preactresnet18", 10, *STATS["cifar10"], width=width)).eval()
    corruption_set = load_corruption_set(catalogue.SAMPLE_GENERATED, seed=seed)
    clean_u8 = corruption_set.clean[:images]

    def classify(x_u8: np.ndarray) -> None:
        for start in range(0, len(x_u8), CPU_CHUNK):
            with torch.no_grad():
                predict(model, to_float(x_u8[start : start + CPU_CHUNK]), CPU_BATCH)

    def timed(work) -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    def one_round() -> tuple[float, dict[str, float]]:  # per corruption: five clean passes, then its five
        clean, corrupted = 0.0, {}
        for corruption in catalogue.CORRUPTIONS:
            clean += sum(timed(lambda: classify(clean_u8)) for _ in catalogue.SEVERITIES)
            corrupted[corruption] = sum(
                timed(lambda c=corruption, s=severity: classify(corruption_set.images(c, s, 0, images)))
                for severity in catalogue.SEVERITIES
            )
        return clean, corrupted

    classify(clean_u8)  # untimed: first-call costs (the generator's kernels and operators are built once)
    for corruption in catalogue.CORRUPTIONS:
        for severity in catalogue.SEVERITIES:
            corruption_set.images(corruption, severity, 0, 2)
    clean_s, corrupted_s, by_corruption = [], [], []
    for _ in range(rounds):
        clean, seconds = one_round()
        clean_s.append(clean)
        corrupted_s.append(sum(seconds.values()))
        by_corruption.append(seconds)
    passes = len(catalogue.CORRUPTIONS) * len(catalogue.SEVERITIES)
    clean_ips = [images * passes / s for s in clean_s]
    corrupted_ips = [images * passes / s for s in corrupted_s]
    ratios = [c / k for c, k in zip(clean_ips, corrupted_ips)]
    return {
        "what": "corruptions throughput",
        "model": {"arch": "preactresnet18", "width": width},
        "images": images,
        "rounds": rounds,
        "threads": threads,
        "batch_size": CPU_BATCH,
        "chunk_size": CPU_CHUNK,
        "corruption_set": corruption_set.describe(),
        "clean_images_per_s": {"runs": clean_ips, "median": statistics.median(clean_ips)},
        "corruptions_images_per_s": {"runs": corrupted_ips, "median": statistics.median(corrupted_ips)},
        "ratio": {"runs": ratios, "median": statistics.median(ratios)},
        "target_ratio": TARGET_RATIO,
        "corruption_share": {
            c: statistics.median(r[c] / sum(r.values()) for r in by_corruption) for c in catalogue.CORRUPTIONS
        },
        "environment": environment(torch.device("cpu")),
    }


def markdown(record: dict) -> str:
    """The block docs/benchmarks.md shows, from a record."""
    env = record["environment"]
    clean, corrupted = record["clean_images_per_s"]["median"], record["corruptions_images_per_s"]["median"]
    ratio = record["ratio"]["median"]
    met = "met" if ratio <= record["target_ratio"] else "not met"
    slowest = sorted(record["corruption_share"].items(), key=lambda kv: -kv[1])[:3]
    return "\n".join(
        [
            f"PreActResNet-18 (width {record['model']['width']}), {record['threads']} thread, "
            f"{record['images']} test images of `{record['corruption_set']['name']}`, batch {record['batch_size']}, "
            f"medians of {record['rounds']} rounds, the passes interleaved by corruption; "
            f"{env.get('cpu_model') or env.get('device_name')}, torch {env['torch_version']}:",
            "",
            "| pass | images/s | clean / this (median of rounds) |",
            "|---|---|---|",
            f"| clean | {clean:,.0f} | 1 |",
            f"| corruptions (75 passes, corruption made on the fly) | {corrupted:,.0f} | {ratio:.2f} |",
            "",
            f"Target: within {record['target_ratio']}x of the clean pass: {met}. Largest shares of the corruption "
            "pass's time: " + ", ".join(f"{c} {share:.0%}" for c, share in slowest) + ".",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the record (JSON)")
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-into", type=Path, help="a document with the block's markers")
    parser.add_argument("--from-record", action="store_true", help="render --out as it is, measuring nothing")
    args = parser.parse_args(argv)
    record = files.read_json(args.out) if args.from_record else measure(args.images, args.rounds)
    if not args.from_record:
        files.write_json(args.out, record)
    text = markdown(record)
    if args.write_into:
        marked_block.replace(args.write_into, *MARKERS, text)
    print(text)


if __name__ == "__main__":
    main()
