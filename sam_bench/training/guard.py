"""The catastrophic-overfitting guard: PGD accuracy on a fixed held-out batch after every epoch (docs/training.md).

Its images are the last of the test set (evaluation attacks the first N), and it only observes: it draws from a
fixed seed in a forked RNG and touches no weight, gradient or BatchNorm statistic, so a run trains the same weights
with it as without it (tests/test_single_step.py). Collapse (`collapse`, RULE): below COLLAPSE_FLOOR there is no
robustness to lose, and a run that loses clean accuracy too (below CLEAN_KEPT) is diverging, not overfitting.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from sam_bench.attacks import pgd
from sam_bench.eps import parse_eps
from sam_bench.training import method_table as table

DEFAULT_IMAGES = 512  # for the single-step methods: +-2.2 points (95%) at 50% accuracy; one PGD-10 pass of them
SEED = 20200103  # the guard's own random starts, the same every epoch (arXiv:2001.03994, Wong et al.)
STEPS = 10
COLLAPSE_FRACTION = 0.5
COLLAPSE_FLOOR = 0.10
CLEAN_KEPT = 0.8
RULE = (
    f"PGD-{STEPS} accuracy on the guard's images falls below {COLLAPSE_FRACTION:g} x its best of the epochs before "
    f"(that best at least {100 * COLLAPSE_FLOOR:g}%) and stays there to the last epoch, whose clean test accuracy "
    f"is at least {CLEAN_KEPT:g} x the best before the fall"
)


def images_for(method: str, setting: int | None, n_test: int) -> int:
    """How many images the guard attacks: the run's setting, or for the single-step methods DEFAULT_IMAGES or
    half the test set if fewer (clear of the first images evaluations attack); none for the others."""
    if setting is not None:
        return setting
    return min(DEFAULT_IMAGES, n_test // 2) if table.single_step(method) else 0


def budget(attack_norm: str, attack_eps: str) -> dict:
    eps = parse_eps(attack_eps)
    return {"norm": attack_norm, "eps": eps, "steps": STEPS, "step_size": eps / 4}


@torch.no_grad()
def measure(model, loader, attack: dict, autocast=nullcontext) -> dict:
    """Clean and PGD accuracy of `model` (put in eval mode) on the loader's images. The attack's random
    starts come from SEED in a forked RNG: the caller's RNG state is as it was."""
    model.eval()
    device = loader.y.device
    devices = [device] if device.type == "cuda" else []
    clean = robust = 0
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(SEED)
        for x, y in loader.epoch():
            with autocast():
                clean += int((model(x).argmax(1) == y).sum())
                x_adv = pgd(model, x, y, random_start=True, **attack)
                robust += int((model(x_adv).argmax(1) == y).sum())
    n = len(loader.y)
    return {"guard_clean_acc": clean / n, "guard_pgd_acc": robust / n}


def collapse(history: list[dict]) -> dict:
    """Whether the epochs' records end collapsed by RULE, and from which epoch (1-based). A fall that recovers
    is no collapse: PGD accuracy on a few hundred images can swing by more than half between epochs in healthy
    runs (FGSM at 16/255, lr 0.2: 41%, 9%, then 55%), and what a collapse ruins is the model the run ends with."""
    epochs = [r for r in history if r.get("guard_pgd_acc") is not None]
    nothing = {"collapsed": False, "epoch": None, "best_pgd_acc": None, "collapsed_pgd_acc": None}
    if not epochs:
        return nothing
    for start in range(1, len(epochs)):
        before, since = epochs[:start], epochs[start:]
        best_pgd = max(r["guard_pgd_acc"] for r in before)
        cleans = [r["test_acc"] for r in before if r.get("test_acc") is not None]
        last_clean = epochs[-1].get("test_acc")
        if (
            best_pgd >= COLLAPSE_FLOOR
            and all(r["guard_pgd_acc"] < COLLAPSE_FRACTION * best_pgd for r in since)
            and cleans
            and last_clean is not None
            and last_clean >= CLEAN_KEPT * max(cleans)
        ):
            return {
                "collapsed": True,
                "epoch": since[0]["epoch"],
                "best_pgd_acc": best_pgd,
                "collapsed_pgd_acc": epochs[-1]["guard_pgd_acc"],
            }
    return {**nothing, "best_pgd_acc": max(r["guard_pgd_acc"] for r in epochs)}


def summary(images: int, attack: dict, history: list[dict]) -> dict:
    """The guard's record in a run's metadata: what it measured, per epoch, and its verdict."""
    return {
        "images": images,
        "source": f"the last {images} test images",
        "attack": f"PGD-{attack['steps']} {attack['norm']}, step eps/4, random start (seed {SEED})",
        "eps": attack["eps"],
        "rule": RULE,
        "pgd_acc_per_epoch": [r.get("guard_pgd_acc") for r in history],
        "clean_acc_per_epoch": [r.get("guard_clean_acc") for r in history],
        **collapse(history),
    }
