"""AutoAttack searching in TF32 against searching in true fp32, on one model, side by side (issue #45, item 4).

On GPUs the attacks search with TF32 convolutions (torch's default) and every adversarial example they return
is scored again in true fp32, which decides the outcome (`evaluate --search-math tf32`, the default); `ieee`
searches in true fp32 throughout. This measures what the faster search costs in strength and what it saves in
time: AutoAttack on the first N test images in both modes, in rounds of alternating order (the median of each
mode's rounds: beside a stint, as ops/remote-gpu/gpu_prepare.py plans it, both modes are slowed alike, but the times are
not a lone GPU's; `--note` says how it ran), with every image's outcome compared.

    python3 ops/remote-gpu/gpu_search_math.py MODEL --n-examples 1000 --data-dir ~/c10 --device cuda \
        --out $OUT/search-math.json

MODEL is a run directory, a safetensors file or a zoo id (whose weights the machine has: ops/remote-gpu/gpu_weights.py
--model). The record: each mode's seconds and robust images, the images whose outcome differs and which way,
whether each mode's rounds found the same images, the time ratio, and where it ran (device, torch with its
CUDA, commit).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MODES = ("tf32", "ieee")
STANDARD = ["apgd-ce", "apgd-t", "fab-t", "square"]  # AutoAttack's standard version


def measure(
    model_ref: str,
    dataset: str,
    data_dir: str | None,
    device: str,
    n_examples: int,
    rounds: int,
    eps: str,
    attacks: list[str],
    note: str | None,
    save: Callable[[dict], None],
) -> dict:
    import torch

    from sam_bench.data import load_dataset
    from sam_bench.evaluation import outcomes
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.model_ref import load_model_ref
    from sam_bench.evaluation.specs import make_attacks
    from sam_bench.runtime.provenance import environment, resolve_device

    model, info = load_model_ref(model_ref)
    data = load_dataset(dataset, data_dir)
    where = resolve_device(device)
    version = "standard" if attacks == STANDARD else "custom"
    specs = make_attacks(
        "autoattack", "Linf", [eps], version=version, attacks=None if version == "standard" else attacks
    )
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    robust: dict[str, list] = {m: [] for m in MODES}
    head = {
        "what": f"AutoAttack ({version}: {', '.join(attacks)}) at Linf {eps} on the first {n_examples} test images, "
        f"searching in TF32 and in true fp32 (both scored in true fp32), {rounds} rounds in alternating order; "
        "ops/remote-gpu/gpu_search_math.py",
        "note": note,
        "model": {"ref": model_ref, "weights_sha256": info.record.get("weights_sha256")},
        "n_examples": n_examples,
        "environment": {**environment(where), "cuda": torch.version.cuda},
    }
    record: dict = {}
    for number in range(rounds):
        for mode in MODES if number % 2 == 0 else MODES[::-1]:
            began = time.perf_counter()
            result = evaluate(
                model, data, specs, n_examples=n_examples, device=where, model_info=info, progress=False,
                search_math=mode,
            )  # fmt: skip
            if where.type == "cuda":
                torch.cuda.synchronize(where)
            seconds[mode].append(round(time.perf_counter() - began, 2))
            robust[mode].append(outcomes.decode(result["evaluations"][0]["outcomes"]))
            clean = int(outcomes.decode(result["clean_outcomes"]).sum())
            record = {**head, "clean_correct": clean, **compared(seconds, robust, rounds)}
            save(record)  # after every run: a call stopped part-way still brings back what it measured
    return record


def compared(seconds: dict[str, list[float]], robust: dict[str, list], rounds: int) -> dict:
    """Each mode's runs so far, and the two compared image by image once both have run."""
    import numpy as np

    median = {m: float(np.median(s)) for m, s in seconds.items() if s}  # the modes that have run
    modes = {
        m: {
            "seconds": list(seconds[m]),
            "median_s": median.get(m),
            "robust": int(robust[m][0].sum()) if robust[m] else None,
            # every run of a mode finds the same images (the attacks are seeded); one that did not is said
            "repeatable": all(np.array_equal(r, robust[m][0]) for r in robust[m]) if robust[m] else None,
        }
        for m in MODES
    }
    out = {
        "complete": all(len(seconds[m]) == rounds for m in MODES),
        "modes": modes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if all(robust[m] for m in MODES):
        tf32, ieee = robust["tf32"][0], robust["ieee"][0]
        out["time_ratio_ieee_over_tf32"] = round(median["ieee"] / median["tf32"], 3) if median["tf32"] else None
        out["robust_only_when_searching_in_tf32"] = np.flatnonzero(tf32 & ~ieee).tolist()  # TF32's search missed
        out["robust_only_when_searching_in_ieee"] = np.flatnonzero(ieee & ~tf32).tolist()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a run directory, a safetensors file or a zoo id")
    parser.add_argument("--n-examples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both modes, in alternating order")
    parser.add_argument("--eps", default="8/255", help="the Linf budget (default: %(default)s)")
    parser.add_argument(
        "--attacks", default=",".join(STANDARD), help="AutoAttack's attacks (default: the standard version's)"
    )
    parser.add_argument("--dataset", default="cifar10", help="cifar10, or the bundled cifar10-sample (tests)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True)
    parser.add_argument("--note", default=None, help="how it ran, for the record (e.g. 'beside a stint')")
    args = parser.parse_args(argv)
    if args.n_examples < 1 or args.rounds < 1:
        raise SystemExit("gpu_search_math: --n-examples and --rounds must be at least 1")
    from sam_bench import files
    from sam_bench.errors import SamBenchError

    try:
        record = measure(
            args.model,
            args.dataset,
            args.data_dir,
            args.device,
            args.n_examples,
            args.rounds,
            args.eps,
            args.attacks.split(","),
            args.note,
            lambda record: files.write_json(Path(args.out), record),
        )
    except SamBenchError as err:
        raise SystemExit(f"gpu_search_math: {err}") from None
    modes = record["modes"]
    print(
        f"tf32: {modes['tf32']['seconds']} s, {modes['tf32']['robust']} robust; ieee: {modes['ieee']['seconds']} s, "
        f"{modes['ieee']['robust']} robust; images that differ: {len(record['robust_only_when_searching_in_tf32'])} "
        f"robust only in tf32, {len(record['robust_only_when_searching_in_ieee'])} only in ieee; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
