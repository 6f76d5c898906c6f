"""gpu_later_seeds.py: the plan's sentence on what a later seed costs against its targets, and on the windows
that would evaluate a later seed from run weights a stint's pack leaves out."""

from __future__ import annotations

import gpu_later_seeds
import gpu_schedule
from gpu_costs import Model


def later(name: str, method: str, train: float, parts: dict[str, float], **kwargs) -> Model:
    return Model(name, train, sum(parts.values()), method=method, seed=1, primary=False, parts=parts, **kwargs)


def test_a_missed_target_names_what_bounds_it_and_a_long_training_spans_windows():
    done = Model("ST", 2.0, 8.0, done_train=2.0, done_evaluate=8.0)
    st = later("ST", "standard", 2.0, {"clean": 0.01, "PGD-10": 0.4, "APGD-CE + APGD-T": 1.6})
    at = later("AT-Linf-8", "at", 12.0, {"clean": 0.01, "PGD-10": 0.5, "APGD-CE + APGD-T": 1.3})
    windows = gpu_schedule.plan([dataclass_copy(m) for m in (done, st, at)])
    text = gpu_later_seeds.sentence([done, st, at], windows, 1)
    assert text.startswith(
        "A later seed's evaluation (clean and PGD-10 at 8 budgets on 10,000 images, APGD-CE + APGD-T at 4 budgets"
        " on 1,000) is estimated, for ST and SAM (target 1.5 GPU-minutes: missed: ST's 2.0, bound by its APGD-CE +"
        " APGD-T (1.6)) at 2.0 for ST (PGD-10 0.4, APGD-CE + APGD-T 1.6); for AT (target 4 GPU-minutes: met) at"
        " 1.8 for AT-Linf-8 (PGD-10 0.5, APGD-CE + APGD-T 1.3)."
    )
    stint = max(c.stint for calls, _ in windows for c in calls)
    assert f"against a stint of at most {stint:.1f} minutes a window" in text
    assert f"A stint holds at most {int(stint // (st.train + st.evaluate))} of ST's whole." in text
    assert "Training alone, AT-Linf-8's outlasts a stint" in text
    assert gpu_later_seeds.sentence([done], windows, 1) == ""


def test_a_later_seed_trained_in_an_earlier_window_is_evaluated_from_its_own_weights_which_do_not_come_back():
    firsts = [Model(name, 2.0, 1.0, done_train=2.0) for name in ("ST", "SAM-0.1", "SAM-0.4")]
    seed = later("ST", "standard", 2.0, {"PGD-10": 0.4, "APGD-CE + APGD-T": 0.8}, done_train=2.0)
    (calls, _), *_ = gpu_schedule.plan([*firsts, seed], windows=1)
    weights = [c for c in calls if c.what.startswith("`weights`")]
    assert [c.run_weights for c in weights] == ["", "", "ST seed 1"]  # three first seeds two a call, the seed alone
    sentence = gpu_later_seeds.unreturned_weights([(calls, [])])
    assert sentence.startswith("Planned but not yet possible: window 1 (ST seed 1) evaluates a later seed")
    assert gpu_later_seeds.unreturned_weights(gpu_schedule.plan(firsts, windows=1)) == ""


def dataclass_copy(m: Model) -> Model:
    import dataclasses

    return dataclasses.replace(m)
