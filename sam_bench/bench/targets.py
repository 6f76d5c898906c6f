"""The project's speed targets, judged from a benchmark's results record.

Each check holds the measured median, whether it meets the target, and whether the spread of the
repetitions decides it (`clear`: the whole spread is on one side). On a GPU the targets are the
project's (PreActResNet-18, CIFAR-10, one H100, batch 512); on CPU the fast path must not be slower
than the paper's loop.
"""

from __future__ import annotations

import torch

from sam_bench.bench.measurement import EPOCH_IMAGES
from sam_bench.training import method_table as table

GPU_TARGETS = {
    "standard_epoch_s": 1.0,
    "sam_epoch_s": 2.0,
    "at_epoch_s": 8.0,
    "standard_x_paper": 8.0,
    "sam_x_paper": 8.0,
    "autoattack_10k_s": 120.0,
}


def targets(result: dict) -> dict:
    """The targets that apply on the record's device, each checked against what it measured."""
    s, training = result["settings"], result["training"]
    if torch.device(s["device"]).type == "cuda":
        applies = s["arch"] == "preactresnet18" and s["width"] == 1.0 and s["batch_size"] == 512
        checks = [
            *_epoch_checks(training),
            *_x_paper_checks(training, {m: GPU_TARGETS[f"{m}_x_paper"] for m in ("standard", "sam")}),
            *_autoattack_checks(result["evaluation"]),
        ]
        note = "the issue's targets: PreActResNet-18, CIFAR-10, one H100, batch 512"
    else:
        applies = True
        checks = _x_paper_checks(training, {"standard": 1.0, "sam": 1.0}, " (CPU: not slower)")
        note = "on CPU the fast path must not be slower than the paper's loop"
    return {"applies": applies, "note": note, "checks": checks}


def _epoch_checks(training: dict) -> list[dict]:
    checks = []
    for method in ("standard", "sam", "at"):
        if method in training:
            fast = training[method]["fast"]
            spread = [EPOCH_IMAGES / fast["images_per_s"]["max"], EPOCH_IMAGES / fast["images_per_s"]["min"]]
            name = f"{table.label(method)}: epoch seconds <="
            checks.append(_check(name, fast["epoch_s"], GPU_TARGETS[f"{method}_epoch_s"], spread))
    return checks


def _x_paper_checks(training: dict, target: dict[str, float], qualifier: str = "") -> list[dict]:
    return [
        _check(
            f"{table.label(method)}: x the paper loop's images/s >={qualifier}",
            training[method]["x_paper"],
            target[method],
            _ratio_spread(training[method]),
            higher_is_better=True,
        )
        for method in ("standard", "sam")
        if method in training and training[method]["x_paper"] is not None
    ]


def _autoattack_checks(evaluation: dict | None) -> list[dict]:
    checks = []
    for record in (evaluation or {}).get("autoattack", []):
        # Only for a trained model (`bench --models`): the one bench trains for a few epochs on the bundled
        # sample (`trained_here`) leaves a sixth of its correct images to AutoAttack's later attacks, whose
        # hundreds of sequential iterations on a few dozen images cost the same for 1,000 images as for
        # 10,000 (on the H200: 32 s for 1,000 images, 350 of them correct and 54 robust), so no estimate for
        # 10,000 images of a trained ST model can be drawn from it.
        if record.get("trained_here"):
            continue
        clean_trained = record["method"] in table.TABLE and not table.uses_attack(record["method"])  # ST, SAM, ASAM
        if clean_trained and record["seconds_per_1000_correct"] is not None:
            # As if all 10,000 images were correctly classified: AutoAttack's work is per correct image.
            name = f"autoattack on {record['model']}: seconds for 10,000 images (est.) <="
            checks.append(_check(name, 10 * record["seconds_per_1000_correct"], GPU_TARGETS["autoattack_10k_s"]))
    return checks


def _check(name: str, measured, target: float, spread=None, higher_is_better: bool = False) -> dict:
    def ok(v):
        return v >= target if higher_is_better else v <= target

    return {
        "name": name,
        "target": target,
        "measured": measured,
        "met": ok(measured),
        "spread": spread,
        "clear": None if spread is None else ok(spread[0]) == ok(spread[1]),
    }


def _ratio_spread(t: dict) -> list[float]:
    """The lowest and highest x-paper ratio the repetitions allow (fast min / paper max, ...)."""
    f, p = t["fast"]["images_per_s"], t["paper"]["images_per_s"]
    return [f["min"] / p["max"], f["max"] / p["min"]]
