"""gpu_attack_minutes.py: what an attack of a run's evaluation is estimated to cost on the GPU. AutoAttack's custom
APGD-CE + APGD-T is its passes at the probe's measured attack rate, its later attack on the images the first
leaves, bounded by the model's PGD-10 accuracy at that budget; the standard version keeps its flat estimate."""

from __future__ import annotations

import gpu_attack_minutes as minutes  # ops/remote-gpu is on the path (conftest.py)
import pytest

RATES = {"tf32": 4000.0, "ieee": 1000.0}  # PGD-10 images/s (synthetic round numbers): 10 passes an image
LINF_2 = ("Linf", round(2 / 255, 8))


def custom(eps: str = "2/255", images: int = 1000):
    from sam_bench.evaluation.specs import make_attacks

    (spec,) = make_attacks("autoattack", "Linf", [eps], version="custom", attacks=["apgd-ce", "apgd-t"])
    spec.n_examples = images
    return spec


def test_custom_autoattack_is_its_passes_at_the_probes_rate_on_the_images_pgd_leaves():
    """On 1,000 images at 4,000 PGD-10 images/s (25 us a pass) with PGD-10 accuracy 0.3 at the budget: APGD-CE's
    100 iterations on all 1,000 (100,000 passes) and APGD-T's 9 targets x 100 iterations on the 300 left
    (270,000): 370,000 passes, 9.25 s, whether the model is robust or not."""
    spec = custom()
    assert minutes.attack_passes(spec) == [100, 900]
    for robust in (False, True):
        assert minutes.spec_minutes(spec, robust, RATES, {LINF_2: 0.3}) == pytest.approx(9.25 / 60)
    # no PGD-10 accuracy at this budget (another budget's does not bound it): 0.8 of the images, 820,000 passes
    assert minutes.LEFT_ESTIMATE == 0.8
    for accuracies in (None, {}, {("Linf", round(1 / 255, 8)): 0.3}, {("L2", round(2 / 255, 8)): 0.3}):
        assert minutes.spec_minutes(spec, False, RATES, accuracies) == pytest.approx(20.5 / 60)
    # without a probe, at the estimated 35 us a pass; on all 10,000 images, ten times the work
    assert minutes.spec_minutes(spec, False, None, {LINF_2: 0.3}) == pytest.approx(370_000 * 35e-6 / 60)
    whole = custom(images=10_000)
    assert minutes.spec_minutes(whole, False, RATES, {LINF_2: 0.3}) == pytest.approx(92.5 / 60)
    assert minutes.from_rates(spec, True) and minutes.attack_kind(spec) == "APGD-CE + APGD-T"


def test_the_standard_version_keeps_its_flat_estimate_below_robustbenchs_budget():
    from sam_bench.evaluation.specs import make_attacks

    (standard,) = make_attacks("autoattack", "Linf", ["2/255"])
    standard.n_examples = 1000
    for robust in (False, True):
        assert minutes.spec_minutes(standard, robust, RATES, {LINF_2: 0.0}) == pytest.approx(
            minutes.AUTOATTACK_MIN["robust"] / 10
        )
        assert not minutes.from_rates(standard, robust)
    assert minutes.attack_kind(standard) == "AutoAttack"


def test_pgd_accuracies_are_read_from_a_results_record_by_budget():
    record = {
        "evaluations": [
            {"attack": "clean", "eps_value": 0.0, "robust_acc": None},
            {"attack": "pgd", "norm": "Linf", "eps": "2/255", "eps_value": 2 / 255, "robust_acc": 0.0972},
            {"attack": "pgd", "norm": "L2", "eps": "16/255", "eps_value": 16 / 255, "robust_acc": 0.75},
            {"attack": "autoattack", "norm": "Linf", "eps": "2/255", "eps_value": 2 / 255, "robust_acc": 0.011},
        ]
    }
    assert minutes.pgd_accuracies(record) == {LINF_2: 0.0972, ("L2", round(16 / 255, 8)): 0.75}
    assert minutes.pgd_accuracies(None) == {}
