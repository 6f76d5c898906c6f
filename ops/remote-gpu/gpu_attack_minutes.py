"""What each attack of a run's evaluation costs on the GPU, in minutes, for ops/remote-gpu/gpu_plan.py. Every
figure here is an estimate, with its derivation below; where a probe measured the attacks' throughput
(`sam-bench bench --probe`: PGD-10 at Linf 8/255 on 512 images of an eval-mode PreActResNet-18, in TF32 and in
strict fp32, `probe_attack_rates`), the estimate is counted from that measured rate; where the full scale's
own runs made an attack, their minutes replace it (gpu_state.py).

Attacks search in TF32 and every outcome is scored in true fp32, on the run's share of the 10,000 test images:

- PGD-10 at one budget: 10 input-gradient passes over 10,000 images at about IMAGE_PASS_S an image-pass in
  TF32, about 3.5 s, taken as PGD_BUDGET_MIN with its chunks' overhead; from a probe's rates, its search over
  the images in TF32 and their scoring in strict fp32 (a forward: at most one of the 11 passes of a strict
  PGD-10).
- AutoAttack's standard version at one budget: AUTOATTACK_MIN, about 5 minutes on 10,000 images for an
  adversarially trained model (a review of AT-Linf-8's AutoAttack with TF32: 4-6 minutes) and 1.5 for ST and
  SAM, whose images nearly all fall to APGD-CE, the first of its four attacks. Below RobustBench's budget (the
  claims' small budgets) it counts as on a robust model whatever the model: a model that is not robust keeps
  many images past APGD-CE there (the full-scale ST and SAM-0.1: 8-81% under PGD-10), and its later attacks'
  work, FAB-T's and Square's most of all, is on those. From a probe's rates, at RobustBench's budget on a model
  that is not robust: APGD-CE's 100 iterations (APGD_CE_PGD10S PGD-10s of work) over its images in TF32, then
  AUTOATTACK_TAIL_MIN for its other three attacks on the few images APGD-CE leaves, hundreds of sequential
  iterations whatever their number (bench's briefly trained standard model on the H200, 54 images left to
  them: 32 s for the whole AutoAttack, benchmarks/nvidia-h200-autoattack.json).
- AutoAttack's custom version (the recipe's APGD-CE + APGD-T, at the standard version's iterations and
  targets: `custom_autoattack_minutes`): its work in forward-backward passes, each iteration about one pass
  at the rate the probe measured (its PGD-10's images/s are 10 passes an image; without a probe, IMAGE_PASS_S
  a pass): the first attack's iterations on all its images (APGD-CE: 100), each later attack's on the images
  the first leaves (APGD-T: 9 targets x 100 iterations). The share APGD-CE leaves is bounded above by the
  model's PGD-10 accuracy at that budget (APGD-CE is the stronger attack; `pgd_accuracies`), on all 10,000
  images where the attack takes the first 1,000; where no PGD-10 accuracy is had, LEFT_ESTIMATE. Its scoring
  in strict fp32 (one forward over 1,000 images: under 0.1 s on the H200) is left out.
"""

from __future__ import annotations

from pathlib import Path

EVAL_IMAGES = 10_000  # the full scale evaluates on the whole test set; an attack may take the first N of it
IMAGE_PASS_S = 35e-6  # an image's input-gradient pass in TF32 on a full-width PreActResNet-18, without a probe
PGD_BUDGET_MIN = 0.1
AUTOATTACK_MIN = {"robust": 5.0, "not robust": 1.5}
APGD_CE_PGD10S = 10
AUTOATTACK_TAIL_MIN = 0.5
PROBE_PGD_PASSES = 10  # the probe's attack is PGD-10: 10 forward-backward passes an image
CLASSES = 10  # CIFAR-10's: what FAB's passes would depend on (APGD's do not)
# The share of its images APGD-CE leaves to the later attacks where no PGD-10 accuracy at that budget is had:
# an adversarially trained model's at the claims' small budgets (Linf 1-2/255, L2 16-32/255) is below its clean
# accuracy (about 0.8 for PGD AT on CIFAR-10), so 0.8 bounds it from above.
LEFT_ESTIMATE = 0.8


def probe_attack_rates(path: str | Path) -> dict[str, float] | None:
    """{"tf32": images/s, "ieee": images/s} of the probe's PGD-10 (its attack parts), or None if it has none."""
    from sam_bench.bench.probe import read

    parts = read(path, error=SystemExit)["parts"]
    rates = {
        mode: ((parts.get(f"attack/{mode}") or {}).get("values", {}).get("images_per_s") or {}).get("median")
        for mode in ("tf32", "ieee")
    }
    return rates if all(rates.values()) else None


def budget(norm: str | None, eps: float) -> tuple[str | None, float]:
    """What a PGD-10 accuracy and an AutoAttack budget are matched by: the norm and the eps."""
    return norm, round(float(eps), 8)


def pgd_accuracies(results) -> dict[tuple[str | None, float], float]:
    """{budget: PGD-10 robust accuracy} of a results record's PGD evaluations (its `Results`, or the file's
    data; none for None)."""
    from sam_bench.evaluation.results_record import Results

    if results is None:
        return {}
    return {
        budget(e.norm, e.eps_value or 0.0): float(e.robust_acc)
        for e in Results.of(results).evaluations
        if e.attack == "pgd" and e.robust_acc is not None
    }


def attack_passes(spec) -> list[int]:
    """Forward-backward passes an image each attack of an AutoAttack spec's custom version spends on an image
    none of them fools (sam_bench.attacks.autoattack.forward_passes, in passes of a gradient), in its order."""
    from sam_bench.attacks.autoattack import FORWARDS_PER_GRADIENT, forward_passes

    restarts = int(spec.settings.get("restarts") or 1)
    return [
        forward_passes("custom", spec.norm, [attack], restarts, CLASSES) // FORWARDS_PER_GRADIENT
        for attack in spec.settings["attacks"]
    ]


def custom_autoattack_minutes(spec, tf32_rate: float | None, left: float) -> float:
    """Estimated minutes of an AutoAttack spec's custom version: its first attack's passes on all its images and
    each later attack's on the share `left` that the first leaves, each pass at the probe's PGD-10 rate in TF32
    (`tf32_rate` images/s, PROBE_PGD_PASSES passes an image; None: IMAGE_PASS_S a pass)."""
    images = spec.n_examples or EVAL_IMAGES
    first, *later = attack_passes(spec)
    pass_s = IMAGE_PASS_S if tf32_rate is None else 1 / (PROBE_PGD_PASSES * tf32_rate)
    return images * (first + left * sum(later)) * pass_s / 60


def spec_minutes(
    spec,
    robust: bool,
    rates: dict[str, float] | None,
    accuracies: dict[tuple[str | None, float], float] | None = None,
) -> float:
    """Estimated minutes of one attack spec (evaluation_block.evaluation_specs) on its images, from a probe's
    attack `rates` where given; `accuracies`: the model's PGD-10 accuracies by `budget`, which bound the images
    a custom AutoAttack's later attacks see (LEFT_ESTIMATE where they lack the spec's budget)."""
    from sam_bench.eps import parse_eps
    from sam_bench.threat_models import threat_model

    share = (spec.n_examples or EVAL_IMAGES) / EVAL_IMAGES
    if spec.attack == "clean":
        return 0.0
    if spec.attack == "pgd":
        if rates is None:
            return PGD_BUDGET_MIN * share
        return share * (EVAL_IMAGES / rates["tf32"] + EVAL_IMAGES / rates["ieee"] / 11) / 60
    if spec.settings.get("version") == "custom":
        left = (accuracies or {}).get(budget(spec.norm, spec.eps), LEFT_ESTIMATE)
        return custom_autoattack_minutes(spec, None if rates is None else rates["tf32"], left)
    if robust or spec.eps < parse_eps(threat_model(spec.norm).board_eps()) - 1e-9:
        return AUTOATTACK_MIN["robust"] * share
    if rates is None:
        return AUTOATTACK_MIN["not robust"] * share
    return APGD_CE_PGD10S * share * EVAL_IMAGES / rates["tf32"] / 60 + AUTOATTACK_TAIL_MIN


def from_rates(spec, robust: bool) -> bool:
    """Whether `spec_minutes` counts this spec from a probe's attack rates (not a flat estimate)."""
    from sam_bench.eps import parse_eps
    from sam_bench.threat_models import threat_model

    if spec.attack != "autoattack" or spec.settings.get("version") == "custom":
        return True
    return not robust and spec.eps >= parse_eps(threat_model(spec.norm).board_eps()) - 1e-9


def attack_kind(spec) -> str:
    """What the plan calls an attack spec's kind when it splits an evaluation's minutes: "clean", "PGD-10",
    "AutoAttack" (its standard version) or a custom version's attacks ("APGD-CE + APGD-T")."""
    if spec.attack == "pgd":
        return f"PGD-{spec.settings.get('steps', 10)}"
    if spec.attack == "autoattack":
        if spec.settings.get("version") == "custom":
            return " + ".join(a.upper() for a in spec.settings["attacks"])
        return "AutoAttack"
    return spec.attack


def evaluation_parts(
    specs: list,
    robust: bool,
    rates: dict[str, float] | None,
    accuracies: dict[tuple[str | None, float], float] | None = None,
) -> dict[str, float]:
    """{attack kind: minutes} to evaluate a model with these attack specs (each on its own share of the 10,000
    test images), in the order the kinds first come."""
    parts: dict[str, float] = {}
    for spec in specs:
        kind = attack_kind(spec)
        parts[kind] = parts.get(kind, 0.0) + spec_minutes(spec, robust, rates, accuracies)
    return parts


def evaluation_minutes(
    specs: list,
    robust: bool,
    rates: dict[str, float] | None,
    accuracies: dict[tuple[str | None, float], float] | None = None,
) -> float:
    """Minutes to evaluate a model with these attack specs (each on its own share of the 10,000 test images)."""
    return sum(evaluation_parts(specs, robust, rates, accuracies).values())
